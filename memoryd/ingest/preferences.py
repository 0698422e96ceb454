"""One stance on a thing at a time in fast mode's explicit tastes ("I like coffee", "我不喜欢香菜").

A taste is on the timeline of its owner and the thing it is about (:func:`taste_line`): "The user
likes coffee." and, said later, "The user dislikes coffee." are on one line, and the later ends the
earlier (:func:`replaces`); "The user loves coffee." beside "The user likes coffee." ends nothing,
the same stance in other words. :func:`memoryd.ingest.timelines.settle_profile` lays the lines out, as
it does a home's. The thing is matched as written, but for its case, a leading article and
trailing punctuation ("the Beatles" is "Beatles"); a similar thing is another ("tea" is not
"green tea"). The stored tastes on a line are found by the hashes of the texts the rules write
for its thing (:func:`taste_hashes`): an exact, indexed lookup, however many tastes are stored.
Pure: no I/O.
"""

from __future__ import annotations

import re
from functools import lru_cache

from memoryd.models import MemoryKind, MemoryRecord, content_hash

__all__ = ["TASTE", "bare_thing", "replaces", "taste_hashes", "taste_line", "taste_of"]

TASTE = "taste:"  # what a taste's timeline is named by, before its thing (a home's: its attribute)
_POLARITIES = ("like", "dislike")
# The texts the rules write (rules._statement): "The user likes/loves/enjoys/prefers/dislikes X.",
# "用户喜欢X。", "用户不喜欢X。"; X is the thing.
_EN_VERBS = ("likes", "loves", "enjoys", "prefers", "dislikes")
_EN_TEXT = re.compile(rf"^The user (?:{'|'.join(_EN_VERBS)}) (?P<x>.+)$", re.S)
_ZH_TEXT = re.compile(r"^用户(?:不)?喜欢(?P<x>.+)$", re.S)
# A leading article ("the Beatles", "a good book") and trailing punctuation, English or Chinese.
_ARTICLE = re.compile(r"^(?:the|a|an)\s+")
_TRAIL = re.compile(r"[\s.,:;!?'\"“”‘’。！？；，、…]+$")


def bare_thing(obj: str) -> str:
    """``obj`` without the trailing punctuation the thing is read without: what the rules write
    (so that its text is one :func:`taste_hashes` finds)."""
    return _TRAIL.sub("", obj)


@lru_cache(maxsize=4096)
def _thing(text: str) -> str | None:
    """The thing a taste's text is about, normalised (case, articles, trailing punctuation,
    spaces); None if ``text`` is not a taste the rules write."""
    found = _EN_TEXT.match(text) or _ZH_TEXT.match(text)
    if found is None:
        return None
    out = _TRAIL.sub("", " ".join(found.group("x").split()).casefold())
    out = _ARTICLE.sub("", out) if found.re is _EN_TEXT else out
    return out or None


def taste_of(m: MemoryRecord) -> tuple[str, str] | None:
    """(thing, polarity) of an explicit taste the rules wrote ("like"/"dislike"); None for any other
    memory (fine mode's preferences and assistant feedback are reconciled their own way)."""
    meta = m.metadata
    polarity = meta.get("polarity")
    if m.kind is not MemoryKind.PREFERENCE or meta.get("rule") not in _POLARITIES:
        return None
    if polarity not in _POLARITIES:
        return None
    what = _thing(m.text)
    return None if what is None else (what, str(polarity))


def taste_line(m: MemoryRecord) -> str | None:
    """The name of the timeline a taste is on beside its owner (:data:`TASTE` and its thing)."""
    taste = taste_of(m)
    return None if taste is None else TASTE + taste[0]


def replaces(later: MemoryRecord, earlier: MemoryRecord) -> bool:
    """Whether ``later``, said after ``earlier`` on its timeline, ends it: a taste only the
    opposite stance; anything else (a home, a name, a workplace) always."""
    a, b = taste_of(later), taste_of(earlier)
    return a is None or b is None or a[1] != b[1]


def taste_hashes(line: str) -> list[str] | None:
    """The content hashes of every text the rules write for a taste on ``line``, either stance
    (any verb, with or without a leading article, in English or Chinese): a superset of what is
    on it (:func:`taste_line` tells); None if ``line`` is no taste's."""
    if not line.startswith(TASTE):
        return None
    what = line[len(TASTE) :]
    texts = [f"The user {verb} {a}{what}." for verb in _EN_VERBS for a in ("", "the ", "a ", "an ")]
    return [content_hash(t) for t in (*texts, f"用户喜欢{what}。", f"用户不喜欢{what}。")]
