"""Lenient JSON: find and repair the JSON value in what a language model answered.

Pure functions, no I/O. :func:`parse_json` returns valid JSON untouched and
otherwise tries, in order: drop ``<think>`` blocks, take the inside of a code
fence (valid JSON, then a ``json`` or untagged fence repaired), take the first
complete JSON object or array inside prose, and finally rebuild the first
object or array token by token, which fixes

- trailing and missing commas, a missing colon,
- single-quoted strings and keys, unquoted keys, Python's True/False/None,
- comments, stray text between tokens,
- truncation: an unfinished string, number, key/value pair or array item at
  the end is dropped and the open arrays and objects are closed.

A closed object or array in prose that holds only bare words (a refusal's
"details about {user}.") is prose, not an answer; nor is a closed one that
rebuilds to nothing (an empty one is only accepted as it stands, ``{}``, or
cut off by the end of a truncated answer). Of several valid objects in prose
the first is the value and the later ones are ``others``: a caller that knows the
schema may prefer a later one with content to an empty first (a model that echoes
the format first: "in the format {"facts": []}. Answer: {...}").

A rebuild that had to place a token touching the string before it (no space or
comma between), a bare word after it, or a string after it with a space at the side they
meet (``"The film " "Up"``), is ``doubtful``: that is what a quote inside
a string left unescaped looks like (``"Alice is "not" a vegetarian"`` rebuilds to ``{"text": "Alice is ",
"not": " a vegetarian"}``, ``'Alice's sister'`` to ``"Alice"``), and the text it
yields is not what the model meant. Callers should ask again rather than use it.

It never raises, whatever the text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Parsed", "brackets", "holds_something", "parse_json", "strip_think"]

_MAX_STARTS = 32  # candidate '{' / '[' positions tried in a long, bracket-rich prose answer
# Reasoning models put their thoughts first; only a leading block is theirs (a "<think>"
# inside the JSON, say as a key, is data).
_THINK = re.compile(r"\A\s*<think>.*?(</think>|\Z)", re.S | re.I)
_FENCE = re.compile(r"```[ \t]*(?P<lang>[A-Za-z0-9_+-]*)[ \t]*\r?\n?(?P<body>.*?)(?:```|$)", re.S)
_JSON_FENCES = {"", "json", "jsonc", "json5"}  # fence tags whose content is repaired before prose
_STRICT_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_LOOSE_NUMBER = re.compile(r"[-+]?(?:\d[\d.]*|\.\d[\d.]*)(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"[^\W\d]\w*")
# The inside of a closed bracket in prose that holds no JSON: bare words, no quote, colon,
# number or bracket ("{user}", "[the user]").
_WORDS_ONLY = re.compile(r"[^\"':\d{}\[\]]*")
_LITERALS = {
    "true": "true",
    "false": "false",
    "null": "null",
    "True": "true",
    "False": "false",
    "None": "null",
    "NaN": "null",
    "Infinity": "null",
    "undefined": "null",
}
_CLOSERS = {"{": "}", "[": "]"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_FAIL = object()


@dataclass(frozen=True)
class Parsed:
    """The outcome: ``ok`` when a JSON value was found; ``repaired`` when the text needed fixing."""

    value: Any
    ok: bool
    repaired: bool
    error: str | None = None
    doubtful: bool = False  # rebuilt past what looks like a quote left unescaped (module doc)
    others: tuple[Any, ...] = ()  # later valid objects of the prose, for a caller to choose among


def strip_think(text: str) -> str:
    """``text`` without a leading ``<think>…</think>`` reasoning block (an unclosed one runs to the end)."""
    return _THINK.sub("", text, count=1) if "<think>" in text.lower() else text


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _FAIL


def parse_json(text: str) -> Parsed:
    """The JSON value in ``text``, repaired if need be (see the module docstring). Never raises."""
    value = _loads(text)
    if value is not _FAIL:
        return Parsed(value, True, False)
    cleaned = strip_think(text)
    found = _valid_in_prose(cleaned)
    # A fence overlapping valid JSON set in prose is its data (a "```" in a string); any other
    # fence holds the answer, before brackets in the prose around it ("I found [2] facts:").
    fences = [
        m
        for m in (_FENCE.finditer(cleaned) if "```" in cleaned else ())
        if found is None or m.end() <= found[1] or m.start() >= found[2]
    ]
    for m in fences:
        value = _loads(m["body"].strip())
        if isinstance(value, dict | list):  # not a string between two "```" of a cut answer
            return Parsed(value, True, True)
    doubts: list[bool] = []
    for m in fences:
        if m["lang"].lower() in _JSON_FENCES and (value := _from_prose(m["body"], doubts)) is not _FAIL:
            return Parsed(value, True, True, doubtful=any(doubts))
    if found is not None:
        return Parsed(found[0], True, True, others=found[3])
    value = _loads(cleaned.strip())
    if value is _FAIL:
        others = (m for m in fences if m["lang"].lower() not in _JSON_FENCES)  # JSON fences: tried above
        value = next((v for m in others if (v := _from_prose(m["body"], doubts)) is not _FAIL), _FAIL)
    if value is _FAIL:
        value = _from_prose(cleaned, doubts)
    if value is not _FAIL:
        return Parsed(value, True, True, doubtful=any(doubts))
    return Parsed(None, False, True, "no JSON object or array in the answer")


def _top_level_starts(text: str) -> list[int]:
    """Positions of '{' and '[' not nested in an earlier, still open bracket (strings skipped)."""
    starts: list[int] = []
    for i, ch, depth in brackets(text):
        if ch in ("{", "[") and depth == 0:
            starts.append(i)
            if len(starts) >= _MAX_STARTS:
                break
    return starts


def brackets(text: str) -> Iterator[tuple[int, str, int]]:
    """Each bracket of ``text`` outside JSON strings (a quote in the prose around the JSON opens
    none): its position, the bracket, and how many were open before it; last, ``(len(text), "",
    depth)``, how many are left open at its end."""
    depth, in_string, escaped = 0, False, False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = depth > 0
        elif ch in "{[":
            yield i, ch, depth
            depth += 1
        elif ch in "}]" and depth:
            yield i, ch, depth
            depth -= 1
    yield len(text), "", depth


def _valid_in_prose(text: str) -> tuple[Any, int, int, tuple[Any, ...]] | None:
    """``(value, start, end, others)`` of the first top-level object or array in ``text`` that is
    valid JSON as it stands, with the values of the later ones."""
    decoder = json.JSONDecoder()
    found: list[tuple[Any, int, int]] = []
    for start in _top_level_starts(text):
        try:
            value, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            continue
        found.append((value, start, end))
    if not found:
        return None
    (value, start, end), rest = found[0], found[1:]
    return value, start, end, tuple(v for v, _, _ in rest)


def holds_something(value: Any) -> bool:
    """Whether a value holds content: a scalar other than null or "", or a container holding one
    (``{"facts": [], "relations": []}``, the format echoed, holds nothing)."""
    if isinstance(value, dict):
        return any(holds_something(v) for v in value.values())
    if isinstance(value, list):
        return any(holds_something(v) for v in value)
    return value is not None and value != ""


def _from_prose(text: str, doubts: list[bool] | None = None) -> Any:
    """The first object or array in ``text``, valid or rebuilt; ``doubts`` gets whether the
    rebuild taken was doubtful (module doc)."""
    found = _valid_in_prose(text)
    if found is not None:
        return found[0]
    starts = _top_level_starts(text)
    fallback: Any = _FAIL
    for start in starts:
        value, end, doubtful = _rebuild(text, start)
        if end is not None and _WORDS_ONLY.fullmatch(text, start + 1, end - 1):
            continue  # "about {user}.", "with {that request}": prose, not JSON
        if value is not _FAIL and value:
            if doubts is not None:
                doubts.append(doubtful)
            return value
        # Empty is an answer only cut off by the end of the text ("[" then the cut); a closed
        # container that rebuilds to nothing held no JSON (a real "{}" is valid JSON, found above).
        if fallback is _FAIL and end is None:
            fallback = value
    return fallback


@dataclass
class _Frame:
    kind: str  # "{" or "["
    state: str = "key"  # objects: key -> colon -> value -> key ...
    count: int = 0  # complete items so far
    item_pos: int = 0  # where the current item (with its leading comma) starts in the output
    string_end: int = -1  # where its last string item or value ended in the text (-1: a comma since)
    string_spaced: bool = False  # and whether that string ended with a space ("He said ")


def _string(text: str, i: int, quote: str) -> tuple[str | None, int]:
    """A quoted string starting at ``i``: (its JSON form, index after it), or (None, len) if unfinished."""
    n, j, buf = len(text), i + 1, []
    while j < n:
        c = text[j]
        if c == "\\":
            if j + 1 >= n:
                break
            e = text[j + 1]
            if e == "u":
                digits = text[j + 2 : j + 6]
                if len(digits) < 4 and j + 6 > n:
                    break
                try:
                    buf.append(chr(int(digits, 16)))
                    j += 6
                    continue
                except ValueError:
                    pass
            buf.append(_ESCAPES.get(e, e))
            j += 2
            continue
        if c == quote:
            joined = "".join(buf).encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            return json.dumps(joined, ensure_ascii=False), j + 1
        buf.append(c)
        j += 1
    return None, n


def _number(raw: str) -> str:
    if _STRICT_NUMBER.fullmatch(raw):
        return raw
    try:
        return str(int(raw))
    except ValueError:
        pass
    try:
        number = float(raw)
    except ValueError:
        return json.dumps(raw)
    return json.dumps(number) if math.isfinite(number) else "null"


def _put(out: list[str], top: _Frame, token: str, key_form: str) -> None:
    """Place a scalar in the open container: commas and colons are added where missing."""
    if top.kind == "[":
        top.item_pos = len(out)
        if top.count:
            out.append(",")
        out.append(token)
        top.count += 1
    elif top.state == "key":
        top.item_pos = len(out)
        if top.count:
            out.append(",")
        out.append(key_form)
        top.state = "colon"
    else:
        if top.state == "colon":
            out.append(":")
        out.append(token)
        top.state = "key"
        top.count += 1


def _open(out: list[str], top: _Frame) -> bool:
    """Make room for a nested container as the next value; False where only a key may go."""
    if top.kind == "[":
        top.item_pos = len(out)
        if top.count:
            out.append(",")
    elif top.state == "key":
        return False
    elif top.state == "colon":
        out.append(":")
    top.state = "key"
    top.count += 1
    return True


def _close(out: list[str], stack: list[_Frame]) -> None:
    frame = stack.pop()
    if frame.kind == "{" and frame.state in ("colon", "value"):  # a key with no value: drop it
        del out[frame.item_pos :]
    out.append(_CLOSERS[frame.kind])


def _rebuild(text: str, start: int) -> tuple[Any, int | None, bool]:
    """Re-tokenise from ``start`` (a '{' or '[') into valid JSON and parse it; where the container
    ends in ``text`` (``None`` when the end of the text cut it off); and whether it was doubtful."""
    out: list[str] = [text[start]]
    stack = [_Frame(text[start])]
    i, n = start + 1, len(text)
    doubtful = False

    def place(top: _Frame, token: str, key_form: str, at: int, end: int | None, word: bool = False) -> None:
        """Put the token found at ``at`` (a string's: ``end`` where it ended; ``word``: a bare one)."""
        nonlocal doubtful
        # A token touching the string before it, no space or comma between ("Alice is "not"…,
        # 'Alice's…'), or a bare word after it ("Alice said " hi there"): that string's closing
        # quote was one inside it, left unescaped.
        doubtful = doubtful or at == top.string_end or (word and top.string_end >= 0)
        # Or a string after it, no comma between, where either one has a space at that side ("The
        # film " "Up" " was great"): what "The film "Up" was great" becomes with spaces around.
        if end is not None and top.string_end >= 0 and (top.string_spaced or token[1:2].isspace()):
            doubtful = True
        value = top.kind == "[" or top.state != "key"  # an item or a value (not a key)
        _put(out, top, token, key_form)
        top.string_end = end if end is not None and value else -1
        top.string_spaced = end is not None and token[-2:-1].isspace()

    while i < n and stack:
        ch = text[i]
        top = stack[-1]
        if ch == ",":
            top.string_end = -1
            i += 1
        elif ch.isspace():
            i += 1
        elif ch in "{[":
            doubtful = doubtful or i == top.string_end
            if _open(out, top):
                out.append(ch)
                stack.append(_Frame(ch))
            top.string_end = -1
            i += 1
        elif ch in "}]":
            want = "{" if ch == "}" else "["
            if any(f.kind == want for f in stack):
                while stack[-1].kind != want:
                    _close(out, stack)
                _close(out, stack)
            i += 1
        elif ch == ":":
            if top.kind == "{" and top.state == "colon":
                out.append(":")
                top.state = "value"
            i += 1
        elif ch in "\"'":
            at = i
            token, i = _string(text, i, ch)
            if token is not None:
                place(top, token, token, at, i)
        elif ch == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif (number := _LOOSE_NUMBER.match(text, i)) is not None:
            i = number.end()
            if i < n:  # a number running into the end may be cut short: drop it
                place(top, _number(number.group()), json.dumps(number.group()), number.start(), None)
        elif (word := _WORD.match(text, i)) is not None:
            i = word.end()
            if i < n:
                raw = word.group()
                token = _LITERALS.get(raw, json.dumps(raw, ensure_ascii=False))
                place(top, token, json.dumps(raw), word.start(), None, word=raw not in _LITERALS)
        else:
            i += 1
    closed_at = None if stack else i
    while stack:  # the text ended inside: an unfinished item of an array is dropped whole
        _close(out, stack)
        if stack and stack[-1].kind == "[":
            del out[stack[-1].item_pos :]
            stack[-1].count -= 1
    return _loads("".join(out)), closed_at, doubtful
