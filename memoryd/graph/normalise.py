"""Entity and relation names in the form the graph store matches them by (pure).

``normalise_name`` makes "Alice", " alice ", "ALICE" and "Alice." one key:
NFKC, case-folded (Turkish "İ" is "i": "İstanbul" is "istanbul"; "Straße" is "strasse"), invisible
characters (zero-width space, soft hyphen) dropped, apostrophes made one (’ ‘ ʼ ` ´ are '), hyphens
made one (the non-breaking hyphen, an en dash, a minus sign are -), and so are the middle dots of a
transliterated name (・ ‧ • are ·: "迈克尔・杰克逊" is "迈克尔·杰克逊"), trimmed,
inner whitespace collapsed, and dropped between two characters of Chinese or Japanese (Han, kana, the
middle dot), scripts written without spaces ("王 小明" is "王小明", "山田　太郎" is "山田太郎",
"迈克尔 · 杰克逊" is "迈克尔·杰克逊"; Korean keeps its spaces), surrounding quotes, brackets and sentence
punctuation stripped (a closing one too when it closes one inside: "Paris (Texas)" and "Paris (Texas"
are one key, apart from "Paris"), a leading English "the " dropped.
Symbols are kept ("C++", "C#" stay apart from "C"), and scripts without case
(Chinese, Japanese, ...) pass through unchanged apart from NFKC.

``display_name`` only tidies a name for showing (case kept, invisible characters dropped, ´ shown as ', a
closing bracket or quote kept when it closes one inside the name: "Paris (Texas)").
``name_keys`` lists the keys names are looked up by: their key and the keys older releases stored
for them where they differ ("i̇stanbul" for "İstanbul", "coca‐cola" for "Coca‑Cola"), so a store
written before still finds its entities, and a write that finds one by its old key adds the new key to it.
``fold_marks`` writes a text's apostrophes, hyphens and middle dots as the key does, one character for
one, so that names can be found in a text the way the key reads them.
``normalise_relation`` turns "Works At", "works-at" and "worksAt" into
``works_at``. Both functions accept any string, never raise, and are
idempotent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache

__all__ = [
    "display_name",
    "fold_marks",
    "name_keys",
    "normalise_name",
    "normalise_relation",
    "older_name_keys",
]

# Punctuation categories stripped from the ends of a name: brackets (Ps/Pe), quotes
# (Pi/Pf), dashes (Pd), connectors like "_" (Pc), and "other" punctuation (Po) except
# the few that carry meaning in names ("C#", "AT&T", "100%", "@handle").
_STRIP_CATEGORIES = frozenset({"Ps", "Pe", "Pi", "Pf", "Pd", "Pc", "Po"})
_KEEP = frozenset("#%&@")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# Invisible characters copied text carries (soft hyphen, word joiner, BOM; zero-width space): no
# part of a name. In a relation a zero-width space parts words, as a space. Zero-width (non-)joiners
# are kept: they change how some scripts are written.
_IN_WORDS = dict.fromkeys(map(ord, "\u00ad\u2060\ufeff"))
_INVISIBLE = {**_IN_WORDS, ord("\u200b"): None}
# In the merge key an apostrophe is one character however it was typed ("McDonald’s", "O‘Brien",
# "O`Brien", "O´Brien"; the full-width ＇ is ' after NFKC). Older releases read only ’ and ʼ so.
_OLD_KEY_TABLE = {**_INVISIBLE, ord("\u2019"): "'", ord("\u02bc"): "'"}
_PREVIOUS_KEY_TABLE = {**_INVISIBLE, **dict.fromkeys(map(ord, "\u2018\u2019\u02bc`\u00b4"), "'")}
# So is a hyphen however typed ("Coca‑Cola" with the non-breaking hyphen models often write, an en
# dash, a minus sign), and the middle dot of a transliterated name ("迈克尔·杰克逊", "迈克尔・杰克逊",
# "迈克尔‧杰克逊", "迈克尔•杰克逊"). The release before read neither so (its key: _PREVIOUS_KEY_TABLE).
_HYPHENS = "\u2010\u2011\u2012\u2013\u2212"
_MIDDLE_DOTS = "\u30fb\u2027\u2022\u2219\u22c5\u0387"
_KEY_TABLE = {
    **_PREVIOUS_KEY_TABLE,
    **dict.fromkeys(map(ord, _HYPHENS), "-"),
    **dict.fromkeys(map(ord, _MIDDLE_DOTS), "\u00b7"),
}
# Shown, an acute accent typed as an apostrophe is one: NFKC would make it a space and a combining accent.
_SHOWN_TABLE = {**_INVISIBLE, ord("\u00b4"): "'"}
_DOTTED_I = "i\u0307"  # what "İ" case-folds to: an i with a combining dot above
# Closing brackets and quotes by their opening ones (after NFKC: full-width forms are ASCII then).
_CLOSERS = dict(zip("([{“‘«‹「『【〔《〈", ")]}”’»›」』】〕》〉", strict=True))
_OPENERS = {c: o for o, c in _CLOSERS.items()}
# Chinese and Japanese are written without spaces: one between two of their characters (a name
# typed "王 小明", "山田　太郎", "迈克尔 · 杰克逊") is no part of the name. The release before kept it.
_UNSPACED = (
    "\u00b7\u3005-\u3007\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0003134f"
)
_UNSPACED_GAP = re.compile(f"(?<=[{_UNSPACED}]) (?=[{_UNSPACED}])")
_MAX_ROUNDS = 8  # each round only shortens or stabilises the text; a cap keeps it total


def _strippable(char: str) -> bool:
    if char.isspace():
        return True
    return char not in _KEEP and unicodedata.category(char) in _STRIP_CATEGORIES


def _strip_ends(text: str) -> str:
    start, end = 0, len(text)
    while start < end and _strippable(text[start]):
        start += 1
    while end > start and _strippable(text[end - 1]):
        end -= 1
    return text[start:end]


def _unmatched(kept: str, opener: str, closer: str) -> tuple[int, int]:
    """How many ``closer`` in ``kept`` close nothing before them, and how many ``opener`` stay open."""
    if opener == closer:  # a straight quote: an odd one is unmatched on either side
        odd = kept.count(opener) % 2
        return odd, odd
    depth = lost = 0
    for char in kept:
        if char == opener:
            depth += 1
        elif char == closer:
            depth, lost = (depth - 1, lost) if depth else (0, lost + 1)
    return lost, depth


def _closes(char: str, kept: str) -> bool:
    """Whether ``char``, stripped after ``kept``, closes a bracket or quote ``kept`` leaves open."""
    opener = '"' if char == '"' else _OPENERS.get(char)
    return opener is not None and _unmatched(kept, opener, char)[1] > 0


def _opens(char: str, kept: str) -> bool:
    """Whether ``char``, stripped before ``kept``, opens a bracket or quote ``kept`` closes."""
    closer = '"' if char == '"' else _CLOSERS.get(char)
    return closer is not None and _unmatched(kept, char, closer)[0] > 0


def display_name(name: str) -> str:
    """How a name is shown: NFKC, trimmed of surrounding punctuation, single spaces; case kept. A
    bracket or quote stripped from an end stays when it pairs with one inside ("Paris (Texas)",
    'Dwayne "The Rock"')."""
    text = " ".join(unicodedata.normalize("NFKC", name.translate(_SHOWN_TABLE)).split())
    kept = _strip_ends(text)
    start = text.find(kept) if kept else 0
    end = start + len(kept)
    while end < len(text) and _closes(text[end], text[start:end]):
        end += 1
    while start > 0 and _opens(text[start - 1], text[start:end]):
        start -= 1
    return text[start:end]


def _name_round(
    text: str, table: dict[int, str | None] = _KEY_TABLE, older: bool = False, spaced: bool = False
) -> str:
    """One round of the key; ``table``, ``older``, ``spaced``: as releases before made it (``spaced``:
    a space between two Chinese or Japanese characters kept)."""
    text = unicodedata.normalize("NFKC", text.translate(table))
    if table is _KEY_TABLE:  # again after NFKC, which makes "･" (half-width) "・" and "‑" "‐"
        text = text.translate(table)
    text = unicodedata.normalize("NFKC", text.casefold())
    if not older:
        text = text.replace(_DOTTED_I, "i")
    text = " ".join(_strip_ends(text).split())
    if text.startswith("the ") and len(text) > 4:
        text = _strip_ends(text[4:])
    if table is _KEY_TABLE and not spaced:
        text = _UNSPACED_GAP.sub("", text)
    return text


def _fixpoint(step: Callable[[str], str], text: str) -> str:
    """Apply ``step`` until the text stops changing (at most ``_MAX_ROUNDS`` times): idempotence."""
    for _ in range(_MAX_ROUNDS):
        nxt = step(text)
        if nxt == text:
            break
        text = nxt
    return text


def normalise_name(name: str) -> str:
    """The merge key of an entity name ("" when nothing meaningful is left)."""
    return _fixpoint(_name_round, name)


def older_name_keys(name: str, key: str | None = None) -> tuple[str, ...]:
    """The keys older releases stored for ``name`` where they differ from its key (none for most
    names); ``key``: its :func:`normalise_name`, when the caller has it already."""
    key = normalise_name(name) if key is None else key
    first = _fixpoint(lambda text: _name_round(text, _OLD_KEY_TABLE, older=True), name)
    previous = _fixpoint(lambda text: _name_round(text, _PREVIOUS_KEY_TABLE), name)
    spaced = _fixpoint(lambda text: _name_round(text, spaced=True), name)
    return tuple(old for old in dict.fromkeys((first, previous, spaced)) if old and old != key)


def name_keys(names: Sequence[str]) -> dict[str, int]:
    """Every key ``names`` are looked up by (each name's key, then :func:`older_name_keys`), with the
    position of the first name giving it; empty keys left out."""
    keys: dict[str, int] = {}
    for position, name in enumerate(names):
        normal = normalise_name(name)
        for key in (normal, *older_name_keys(name, normal)):
            if key:
                keys.setdefault(key, position)
    return keys


_MARKS = ("'", "-", "\u00b7")


@lru_cache(maxsize=4096)
def _mark(char: str) -> str:
    once = char.translate(_KEY_TABLE)
    if once in _MARKS:
        return once
    again = unicodedata.normalize("NFKC", once).translate(_KEY_TABLE)  # "･" (half-width) is "・" then
    return again if again in _MARKS else char


def fold_marks(text: str) -> str:
    """``text`` with each apostrophe, hyphen and middle dot written as the merge key writes it
    (' - ·: "Coca‑Cola" is "Coca-Cola", "迈克尔・杰克逊" is "迈克尔·杰克逊"), one character for one
    (the same length), everything else as it was: for finding names in text the way the key reads them."""
    return "".join(char if char.isalnum() or char.isspace() else _mark(char) for char in text)


def _is_word(char: str) -> bool:
    # Letters, digits and combining marks (the vowel signs of Devanagari, Thai, ...).
    return char.isalnum() or unicodedata.category(char)[0] == "M"


def _relation_round(text: str) -> str:
    text = _CAMEL.sub("_", unicodedata.normalize("NFKC", text.translate(_IN_WORDS)))
    text = unicodedata.normalize("NFKC", text.casefold())
    words = "".join(c if _is_word(c) else " " for c in text).split()
    return "_".join(words)


def normalise_relation(relation: str) -> str:
    """A relation name in snake_case ("" when it has no letters or digits)."""
    return _fixpoint(_relation_round, relation)
