"""Graph-aware search: the entities a query (and its best hits) mention, and their relations.

Entity names are matched, not guessed: every 1-3 word span of the query and
of the top hits is looked up in the graph store (which normalises names and
follows aliases), and the relations one or two hops around the entities found
are returned next to the memories. Words are read as the graph's keys read them
(:func:`~memoryd.graph.normalise.fold_marks`): a hyphen however typed joins a word
("Coca‑Cola" with the non-breaking hyphen), so does an apostrophe however typed
("O‘Brien"), and a span keeps an abbreviation's dot ("St. Louis"). A possessive
("Carol's") also stands for the bare name; a phrase in quotes is offered whole
(up to 8 words); Chinese or Japanese text inside a Latin word is a word of its own
("我的iPhone 15" offers "iPhone 15"). Runs of Chinese or Japanese text, which have
no spaces, offer their segments and every join of 2-3 adjacent segments (a name
the segmenter splits, such as 李思思 into 李 + 思思; a katakana word is one segment),
and runs joined by a middle dot (· ・ ‧ • ･), a transliterated name, offer the name
with the segments next to the dots ("迈克尔·杰克逊住在哪里" offers "迈克尔·杰克逊").
At most 300 names are offered per call, the query's before its hits'. Entities the
query names come before those only the hits mention, and each entity gets a fair
share of the relations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import lru_cache

from memoryd.graph.models import Relation
from memoryd.graph.normalise import fold_marks
from memoryd.models import Scope, SearchHit
from memoryd.storage.base import GraphStore
from memoryd.text import CJK_RUN, cjk_words, tokenize

__all__ = ["SearchResults", "name_candidates", "related_relations"]

# All read in the text as fold_marks writes it (one character for one: offsets are the text's own).
_WORD = re.compile(r"[^\W_][\w'&.\u00b7-]*", re.UNICODE)
_TRIM = ".'-\u00b7"
_POSSESSIVE = re.compile(r"'[sS]$")
_CJK_POSSESSIVE = re.compile(r"'[sS]")  # "李思思's": the run is the bare name already
_ABBREVIATION_GAP = re.compile(r"\.?\s*")  # between two words a span keeps as typed ("St. Louis")
_DOTTED = re.compile(rf"{CJK_RUN.pattern}(?:\u00b7{CJK_RUN.pattern})+")  # "迈克尔·杰克逊"
_KATAKANA = re.compile(r"([\u30a1-\u30fa\u30fc-\u30ff]+)")  # jieba cuts these letter by letter
_QUOTED = re.compile(
    r'"([^"\n]{1,100})"|“([^”\n]{1,100})”|«([^»\n]{1,100})»|[「『《]([^」』》\n]{1,100})[」』》]'
)
_MAX_SPAN = 3
_MAX_DOTTED_PARTS = 4  # "马丁·路德·金": a longer chain offers its windows of up to this many parts
_MAX_DOTTED_CHARS = 6
_MAX_QUOTED_WORDS = 8
_MAX_CANDIDATES = 300


class SearchResults(list[SearchHit]):
    """The hits of a search, best first, plus ``relations`` when the graph was asked."""

    def __init__(self, hits: Sequence[SearchHit] = (), relations: list[Relation] | None = None) -> None:
        super().__init__(hits)
        self.relations = relations


def name_candidates(texts: Sequence[str]) -> list[str]:
    """Every 1-3 word span of ``texts`` (and CJK segments), first occurrence first, capped."""
    seen: dict[str, None] = {}
    for text in texts:
        for name in _candidates(text):
            seen.setdefault(name, None)
            if len(seen) >= _MAX_CANDIDATES:
                return list(seen)
    return list(seen)


def _candidates(text: str) -> Iterator[str]:
    """The names ``text`` may hold, as typed (the graph store normalises them), lazily."""
    folded = fold_marks(text)
    for match in _QUOTED.finditer(text):
        quoted = " ".join(next(g for g in match.groups() if g is not None).split())
        if quoted and len(quoted.split()) <= _MAX_QUOTED_WORDS:
            yield quoted
    yield from _dotted_names(text, folded)
    words = _words(folded)
    for size in range(1, _MAX_SPAN + 1):
        for first in range(len(words) - size + 1):
            span = words[first : first + size]
            ends = [span[-1][1]]
            bare = _POSSESSIVE.search(folded[span[-1][0] : span[-1][1]])  # "Carol's" -> "Carol"
            if bare is not None and bare.start() > 0:
                ends.append(span[-1][0] + bare.start())
            for end in ends:
                yield " ".join([*(text[a:b] for a, b in span[:-1]), text[span[-1][0] : end]])
                gaps = (folded[b:a] for (_, b), (a, _) in zip(span, span[1:], strict=False))
                if size > 1 and all(_ABBREVIATION_GAP.fullmatch(gap) for gap in gaps):
                    yield " ".join(text[span[0][0] : end].split())  # "St. Louis", "小米SU7"
    if CJK_RUN.search(folded):
        yield from tokenize(text, pairs=False)
        for run in CJK_RUN.findall(folded):
            segments = _segments(run)
            for size in range(2, _MAX_SPAN + 1):
                for first in range(len(segments) - size + 1):
                    yield "".join(segments[first : first + size])


def _words(folded: str) -> list[tuple[int, int]]:
    """Where the words of a text are: trimmed of end punctuation, a CJK run a word of its own."""
    words: list[tuple[int, int]] = []
    for match in _WORD.finditer(folded):
        at, previous_cjk = match.start(), False
        pieces = [
            (run.start(), run.end(), True) for run in CJK_RUN.finditer(folded, match.start(), match.end())
        ]
        for start, end, cjk in [*pieces, (match.end(), match.end(), False)]:
            if at < start and not (previous_cjk and _CJK_POSSESSIVE.fullmatch(folded, at, start)):
                piece = folded[at:start]
                left = len(piece) - len(piece.lstrip(_TRIM))
                right = len(piece.rstrip(_TRIM))
                if left < right:
                    words.append((at + left, at + right))
            if cjk:
                words.append((start, end))
            at, previous_cjk = end, cjk
    return words


@lru_cache(maxsize=1024)  # a text's names repeat ("迈克尔·杰克逊" ... "迈克尔·杰克逊")
def _segments(run: str) -> tuple[str, ...]:
    """A CJK run's words, a katakana word whole (jieba knows no Japanese)."""
    return tuple(
        segment
        for part in _KATAKANA.split(run)
        if part
        for segment in ([part] if _KATAKANA.fullmatch(part) else cjk_words(part))
    )


def _dotted_names(text: str, folded: str) -> Iterator[str]:
    """Names of CJK runs joined by middle dots: each window of up to four parts, the outer parts'
    segment or 1-6 characters next to the dots ("我喜欢迈克尔·杰克逊吗" offers "迈克尔·杰克逊"), dots as
    typed (so that an older release's key of the name is found too)."""
    for chain in _DOTTED.finditer(folded):
        parts = [(run.start(), run.end()) for run in CJK_RUN.finditer(folded, chain.start(), chain.end())]
        for size in range(min(len(parts), _MAX_DOTTED_PARTS), 1, -1):
            for first in range(len(parts) - size + 1):
                low, high = parts[first], parts[first + size - 1]
                starts = _ends(text, low, outer=first == 0, tail=True)
                finishes = _ends(text, high, outer=first + size == len(parts), tail=False)
                middle = text[low[1] : high[0]]  # the dots, as typed, and the parts between
                yield from (start + middle + finish for start in starts for finish in finishes)


def _ends(text: str, part: tuple[int, int], outer: bool, *, tail: bool) -> list[str]:
    """An outer part's last (``tail``) or first 1-6 characters and its segment there (the segmenter
    may cut across a name, "迪卡|普里|奥住", or keep a long one whole, "シュワルツェネッガー");
    an inner part whole."""
    run = text[part[0] : part[1]]
    if not outer:
        return [run]
    segments = _segments(run)
    picks = [segments[-1] if tail else segments[0]] if segments else []
    picks += [run[-k:] if tail else run[:k] for k in range(1, min(_MAX_DOTTED_CHARS, len(run)) + 1)]
    return list(dict.fromkeys(picks))


async def related_relations(
    graph: GraphStore,
    scope: Scope,
    query: str,
    hits: Sequence[SearchHit],
    *,
    hops: int,
    as_of: datetime | None,
    limit: int = 50,
) -> list[Relation]:
    """Relations around the entities named in the query, then around those its top three hits name
    (the graph store finds the entities by name and ignores names it does not know)."""
    asked = name_candidates([query])
    known = set(asked)
    in_hits = [n for n in name_candidates([h.memory.text for h in hits[:3]]) if n not in known]
    relations: list[Relation] = []
    for names in (asked, in_hits):
        if not names or len(relations) >= limit:
            continue
        seen = {r.id for r in relations}
        found = await graph.neighbours(scope, names, hops=hops, limit=limit, as_of=as_of)
        relations += [r for r in found if r.id not in seen][: limit - len(relations)]
    return relations
