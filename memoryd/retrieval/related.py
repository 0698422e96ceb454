"""Graph-aware search: the entities a query (and its best hits) mention, and their relations.

Entity names are matched, not guessed: every 1-3 word span of the query and
of the top hits is looked up in the graph store (which normalises names and
follows aliases), and the relations one or two hops around the entities found
are returned next to the memories. A possessive ("Carol's") also stands for the
bare name, and runs of Chinese or Japanese text, which have no spaces, offer
their segments and every join of 2-3 adjacent segments (a name the segmenter
splits, such as 李思思 into 李 + 思思). Entities the query names come before
those only the hits mention, and each entity gets a fair share of the relations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from memoryd.graph.models import Relation
from memoryd.models import Scope, SearchHit
from memoryd.storage.base import GraphStore
from memoryd.text import CJK_RUN, cjk_words, tokenize

__all__ = ["SearchResults", "name_candidates", "related_relations"]

_WORD = re.compile(r"[^\W_][\w'’&.-]*", re.UNICODE)
_POSSESSIVE = re.compile(r"['’][sS]$")
_MAX_SPAN = 3
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
        words = [w.strip(".'’-") for w in _WORD.findall(text)]
        words = [w for w in words if w]
        for size in range(1, _MAX_SPAN + 1):
            for start in range(len(words) - size + 1):
                span = words[start : start + size]
                seen.setdefault(" ".join(span), None)
                bare = _POSSESSIVE.sub("", span[-1])  # "Carol's" -> "Carol"
                if bare != span[-1] and bare:
                    seen.setdefault(" ".join([*span[:-1], bare]), None)
        if CJK_RUN.search(text):
            for token in tokenize(text, pairs=False):
                seen.setdefault(token, None)
            for run in CJK_RUN.findall(text):
                segments = cjk_words(run)
                for size in range(2, _MAX_SPAN + 1):
                    for start in range(len(segments) - size + 1):
                        seen.setdefault("".join(segments[start : start + size]), None)
        if len(seen) >= _MAX_CANDIDATES:
            break
    return list(seen)[:_MAX_CANDIDATES]


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
