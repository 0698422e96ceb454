"""Graph-aware search: the entities a query (and its best hits) mention, and their relations.

Entity names are matched, not guessed: every 1-3 word span of the query and
of the top hits is looked up in the graph store (which normalises names and
follows aliases), and the relations one or two hops around the entities found
are returned next to the memories.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from memoryd.graph.models import Relation
from memoryd.models import Scope, SearchHit
from memoryd.storage.base import GraphStore
from memoryd.text import tokenize

__all__ = ["SearchResults", "name_candidates", "related_relations"]

_WORD = re.compile(r"[^\W_][\w'’&.-]*", re.UNICODE)
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
                seen.setdefault(" ".join(words[start : start + size]), None)
        if any("\u3400" <= ch <= "\u9fff" for ch in text):
            for token in tokenize(text):
                seen.setdefault(token, None)
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
    """Relations around the entities named in the query or its top three hits."""
    names = name_candidates([query, *(h.memory.text for h in hits[:3])])
    entities = await graph.entities(scope, names=names, limit=50)
    if not entities:
        return []
    return await graph.neighbours(scope, [e.name for e in entities], hops=hops, limit=limit, as_of=as_of)
