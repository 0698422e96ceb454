"""Hybrid retrieval: dense and BM25 candidates, fused, then loaded and explained."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from memoryd.config import SearchConfig
from memoryd.filters import Filter
from memoryd.models import MemoryRecord, Scope, SearchHit, utcnow
from memoryd.retrieval.fusion import Candidate, fuse, fuse_scores, recency_factor, score_bounds
from memoryd.retrieval.when import query_span
from memoryd.storage import Storage
from memoryd.text import tokenize

__all__ = ["HybridSearcher", "SearchRequest"]

EmbedQuery = Callable[[Sequence[str]], Awaitable[np.ndarray]]
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class SearchRequest:
    query: str
    scope: Scope
    where: Filter | None
    limit: int
    threshold: float | None
    as_of: datetime | None
    explain: bool
    now: datetime | None = None  # the asker's time, for "a week ago" (default: as_of, else the clock)
    shared: bool = False  # the caller only reads the hits' records: cached ones need no copy


class HybridSearcher:
    """Runs both retrievers concurrently over one scope and fuses their rankings. ``clock``: the
    time when a request gives no ``now`` nor ``as_of`` (the memory's clock)."""

    def __init__(
        self, storage: Storage, embed: EmbedQuery, config: SearchConfig, clock: Clock = utcnow
    ) -> None:
        self.storage = storage
        self.embed = embed
        self.config = config
        self.clock = clock

    async def search(self, req: SearchRequest) -> list[SearchHit]:
        cfg = self.config
        terms = tokenize(req.query)
        vector_task = asyncio.ensure_future(self.embed([req.query]))
        allowed: set[str] | None = None
        if req.where is not None or req.as_of is not None:
            allowed = set(await self.storage.records.select_ids(req.scope, req.where, as_of=req.as_of))
            if not allowed:
                vector_task.cancel()
                return []
        # A query that names a date ("on 3 June, 2023") favours what was said then, and recency
        # favours what was said lately: both re-rank the fused candidates, the same ones for every
        # limit up to ``date_candidates`` (a longer search only appends hits).
        # "yesterday" is the day before the asker's now, else before as_of, else the clock, and recency
        # is age at it; a named day ("on 3 May") is one in the asker's UTC offset, UTC with no ``now``
        now = req.now or _utc(req.as_of or self.clock())
        span = query_span(req.query, now) if cfg.date_weight > 0 else None
        rerank = span is not None or cfg.recency_weight > 0
        reach = max(req.limit, cfg.date_candidates) if rerank else req.limit
        pool = max(cfg.candidates, reach)
        try:  # BM25 runs while the query is being embedded (on the embedder's thread)
            keyword = await self.storage.keywords.search(terms, scope=req.scope, limit=pool, allowed=allowed)
            keyword = [(mid, _shown(bm25)) for mid, bm25 in keyword]
        except BaseException:
            vector_task.cancel()
            raise
        vector = (await vector_task)[0]
        score_fusion = cfg.fusion == "score"
        # Score fusion compares cosines with BM25, and a threshold is on the cosine: then every
        # keyword candidate gets its true cosine, scored in the same pass as the dense ranking.
        dense = await self.storage.vectors.search(
            vector,
            scope=req.scope,
            limit=pool,
            allowed=allowed,
            also=[mid for mid, _ in keyword] if score_fusion or req.threshold is not None else None,
        )
        # Scored with the values ``explain`` shows (:func:`_shown`), so that they recompute the score.
        dense = [(mid, _shown(cos)) for mid, cos in dense]
        # A memory's fused score depends neither on ``limit`` (a longer list of each retriever)
        # nor on ``threshold``: both change which memories are listed, never how one is scored.
        cosines = dict(dense)  # the ranking, then (``also``) the keyword candidates' cosines
        floor = req.threshold  # a filter on the fused hits, before the cut below
        admit = None if floor is None else (lambda mid: cosines.get(mid, -1.0) >= floor)
        # A small margin covers index entries whose record is gone (the threshold is applied before).
        size = reach + 5
        if span is not None:
            slack = timedelta(days=cfg.date_slack_days)
            with suppress(OverflowError):  # within days of year 1 or 9999: the span as named
                span = (span[0] - slack, span[1] + slack)
        weights = {"dense": cfg.dense_weight, "keyword": cfg.keyword_weight}
        bounds: dict[str, tuple[float, float]] = {}
        if score_fusion:
            # Bounds from the first ``candidates`` of each retriever (all there is when limit
            # <= candidates), whatever the lists' length; later entries below them count 0.
            # BM25 counts for its first ``candidates`` only, as when no more are asked for.
            keyword = keyword[: cfg.candidates]
            bounds = score_bounds(dense, keyword, cosines, cfg.candidates)
            ranked = {"dense": dense, "keyword": keyword}
            head = fuse_scores(ranked, weights, bounds=bounds, limit=size, admit=admit)
        else:
            # Ranks of the dense ranking alone: ``also`` cosines follow it, and there are some only
            # when it is full (``pool`` long). Only ranks up to ``candidates`` count.
            ranked = {"dense": dense[:pool], "keyword": keyword}
            head = fuse(ranked, weights, k=cfg.rrf_k, limit=size, head=cfg.candidates, admit=admit)
        if not head:
            return []
        # Every candidate needs a cosine for the threshold and the explanation; keyword-only
        # candidates of rank fusion are scored exactly on their own ids.
        missing = {c.id: c for c in head if "dense" not in c.scores}
        for mid in [mid for mid in missing if mid in cosines]:
            missing.pop(mid).scores["dense"] = cosines[mid]
        if missing:
            scored = await self.storage.vectors.search(
                vector, scope=req.scope, limit=len(missing), allowed=set(missing)
            )
            for mid, cos in scored:
                missing[mid].scores["dense"] = _shown(cos)
        # Read only here; a caller that may change its hits gets copies of the few returned.
        records = await self.storage.records.get_many([c.id for c in head], shared=True)
        # Every candidate is scored with plain floats; hits (and explanations) are built for the
        # returned ones only: a named date re-ranks a couple of hundred candidates to return ten.
        ranked_hits: list[tuple[float, Candidate, MemoryRecord, bool | None]] = []
        for cand in head:
            memory = records.get(cand.id)
            if memory is None or not req.scope.contains(memory):
                continue  # an index entry whose record is gone; never return it
            if req.as_of is None and memory.valid_to is not None:
                continue  # superseded
            cosine = cand.scores.get("dense")
            if req.threshold is not None and (cosine is None or cosine < req.threshold):
                continue
            score = _shown(cand.fused)
            if cfg.recency_weight > 0:
                when = memory.event_time or memory.created_at
                cand.recency = _shown(
                    recency_factor((now - when).total_seconds() / 86400, cfg.recency_half_life_days)
                )
                score = (score + cfg.recency_weight * cand.recency) / (1.0 + cfg.recency_weight)
            inside: bool | None = None
            if span is not None:
                when = memory.event_time or memory.created_at
                inside = span[0] <= when < span[1]
                score = (score + (cfg.date_weight if inside else 0.0)) / (1.0 + cfg.date_weight)
            ranked_hits.append((round(score, 6), cand, memory, inside))
        ranked_hits.sort(key=lambda hit: -hit[0])  # stable: equal scores keep the fused order
        return [
            SearchHit(
                memory if req.shared else memory.detached(),
                score,
                _explain(cand, score, cfg, inside, bounds) if req.explain else None,
            )
            for score, cand, memory, inside in ranked_hits[: req.limit]
        ]


def _utc(when: datetime) -> datetime:
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _shown(value: float) -> float:
    """A part of a score as ``explain`` shows it, and as the score is computed from it: six
    decimals, and six significant digits below 1 (a BM25 score of a word most memories hold is
    tiny, and must still rank them). A cosine so is what ``threshold`` compares (and mem0's score):
    a text's cosine with itself is 1, not float32's 0.99999994."""
    value = float(value)
    return round(value, 6) if abs(value) >= 1.0 else float(f"{value:.6g}")


def _explain(
    cand: Candidate,
    score: float,
    cfg: SearchConfig,
    date_match: bool | None,
    bounds: Mapping[str, tuple[float, float]],
) -> dict[str, object]:
    """The parts of a hit's score: ``fused`` combines the retrievers by ``method`` (``score``: the
    cosine and BM25 min-max normalised between ``dense_bounds`` and ``bm25_bounds`` (below the low
    bound counts 0), weighted by ``dense_weight`` and ``keyword_weight``; ``rrf``: their ranks up to
    ``candidates``, constant ``rrf_k``, the same weights); ``final`` is ``fused``, then averaged
    with ``recency`` (weight ``recency_weight``), then with 1 or 0 for ``date_match`` (weight
    ``date_weight``), when present."""
    # A rank counts up to ``candidates`` only; a later one (and its BM25) is left out: how far down
    # each retriever was asked to look depends on the limit, and the part must not.
    ranks = {name: rank for name, rank in cand.ranks.items() if rank <= cfg.candidates}
    fusion: dict[str, object] = {"dense_weight": cfg.dense_weight, "keyword_weight": cfg.keyword_weight}
    if cfg.fusion == "score":
        for name, key in (("dense", "dense_bounds"), ("keyword", "bm25_bounds")):
            fusion[key] = [_shown(b) for b in bounds[name]] if name in bounds else None
    else:
        fusion.update(rrf_k=cfg.rrf_k, candidates=cfg.candidates)
    return {
        "fused": _shown(cand.fused),
        "final": round(score, 6),
        "dense_cosine": None if "dense" not in cand.scores else _shown(cand.scores["dense"]),
        "dense_rank": ranks.get("dense"),
        "bm25": None if "keyword" not in ranks else _shown(cand.scores["keyword"]),
        "bm25_rank": ranks.get("keyword"),
        "recency": None if cand.recency is None else _shown(cand.recency),
        "recency_weight": cfg.recency_weight if cand.recency is not None else None,
        "date_match": date_match,  # None: the query names no date
        "date_weight": cfg.date_weight if date_match is not None else None,
        "method": cfg.fusion,
        **fusion,
    }
