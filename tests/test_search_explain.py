"""``explain=True``: the parts a hit shows recompute its score by the README's formulas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from memoryd.embedders.use import USEEmbedder
from memoryd.models import SearchHit
from tests.test_search_reranked_limits import _NOW, _store

_QUERIES = ["coffee with chess", "what did I say about my dog last week", "guitar on 3 May, 2024", "movies"]


def _fused(part: dict[str, Any]) -> float:
    """``fused`` from the parts, as the README writes it."""
    dense_weight, keyword_weight = part["dense_weight"], part["keyword_weight"]
    if part["method"] == "rrf":
        k, head = part["rrf_k"], part["candidates"]
        total = sum(
            weight / (k + rank)
            for weight, rank in ((dense_weight, part["dense_rank"]), (keyword_weight, part["bm25_rank"]))
            if rank is not None and rank <= head
        )
        return total / ((dense_weight + keyword_weight) / (k + 1))
    low, top = part["dense_bounds"]
    dense = max(0.0, (part["dense_cosine"] - low) / (top - low))
    keyword = 0.0 if part["bm25"] is None else part["bm25"] / part["bm25_bounds"][1]
    return (dense_weight * dense + keyword_weight * keyword) / (dense_weight + keyword_weight)


def _final(part: dict[str, Any]) -> float:
    """``final`` from ``fused``: averaged with recency, then with the date's 1 or 0."""
    score = part["fused"]
    if part["recency"] is not None:
        score = (score + part["recency_weight"] * part["recency"]) / (1 + part["recency_weight"])
    if part["date_match"] is not None:
        date = part["date_weight"] if part["date_match"] else 0.0
        score = (score + date) / (1 + part["date_weight"])
    return float(score)


@pytest.mark.parametrize(
    "search",
    [
        {},
        {"fusion": "rrf"},
        {"recency_weight": 0.7},
        {"fusion": "rrf", "recency_weight": 0.3, "candidates": 20},
    ],
    ids=["score", "rrf", "score-recency", "rrf-recency"],
)
async def test_every_hits_parts_recompute_its_score(
    tmp_path: Path, embedder: USEEmbedder, search: dict[str, Any]
) -> None:
    amem = await _store(tmp_path, embedder, search)
    try:
        hits: list[SearchHit] = []
        for query in _QUERIES:
            hits += await amem.search(query, user_id="u", limit=60, explain=True, reference_time=_NOW)
    finally:
        await amem.close()
    assert len(hits) == 4 * 60
    for hit in hits:
        part = hit.explain
        assert part is not None
        # Shown to six decimals: what is recomputed from them is within one unit of the last one.
        assert abs(_fused(part) - part["fused"]) <= 1e-6, part
        assert abs(_final(part) - part["final"]) <= 1e-6, part
        assert part["final"] == hit.score
