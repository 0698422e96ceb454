"""Search with a date or recency re-ranking: a larger limit only appends hits, as without."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.models import SearchHit

_TOPICS = ["hiking", "cooking", "python code", "my dog", "the beach", "guitar", "chess", "coffee", "football",
           "gardening", "movies", "travel to Japan"]  # fmt: skip
_VERBS = ["I really enjoy", "Yesterday I talked about", "My friend hates", "We planned", "I read an article on",
          "Thinking about", "Nothing beats", "I'm tired of"]  # fmt: skip
_NOW = "2024-06-30T12:00:00Z"


async def _store(tmp_path: Path, embedder: USEEmbedder, search: dict[str, Any]) -> AsyncMemory:
    settings = load_settings(
        env={}, overrides={"storage": {"path": str(tmp_path / "memoryd.db")}, "search": search}
    )
    amem = await AsyncMemory(settings, embedder=embedder).open()
    for i in range(90):  # one turn a day from 1 April 2024; every third said with no timestamp
        verb, a, b = _VERBS[i % 8], _TOPICS[(i * 5) % 12], _TOPICS[(i * 7 + 3) % 12]
        when = {} if i % 3 == 2 else {"timestamp": f"2024-{4 + i // 30:02d}-{1 + i % 30:02d}T10:00:00Z"}
        await amem.add(f"{verb} {a} number {i} with {b}", user_id="u", **when)
    return amem


@pytest.mark.parametrize(
    "search",
    [
        {"candidates": 5, "date_candidates": 40},
        {"candidates": 5, "date_candidates": 40, "fusion": "rrf"},
        {"candidates": 5, "date_candidates": 40, "recency_weight": 2.0, "date_weight": 0.0},
    ],
    ids=["date-score", "date-rrf", "recency"],
)
async def test_a_larger_limit_only_appends_hits_when_a_date_or_recency_reranks(
    tmp_path: Path, embedder: USEEmbedder, search: dict[str, Any]
) -> None:
    # A date or recency lifts memories the fusion ranked low: a search for 5 hits must consider the
    # same candidates as one for 40, or the 40's first five are better hits the 5 never saw.
    amem = await _store(tmp_path, embedder, search)
    try:
        for query in (
            "what did I say on 3 May, 2024",
            "what did I say last week",
            "movies and guitar last week",
        ):
            long = await amem.search(query, user_id="u", limit=40, reference_time=_NOW)
            assert len(long) == 40
            for limit in (1, 3, 12):
                short = await amem.search(query, user_id="u", limit=limit, reference_time=_NOW)
                assert [(h.memory.id, h.score) for h in short] == [
                    (h.memory.id, h.score) for h in long[:limit]
                ]
    finally:
        await amem.close()


def _ranks(hit: SearchHit) -> tuple[object, ...]:
    assert hit.explain is not None
    return hit.memory.id, hit.explain["dense_rank"], hit.explain["bm25_rank"], hit.explain["bm25"]


@pytest.mark.parametrize("fusion", ["score", "rrf"])
async def test_a_hits_explanation_does_not_depend_on_the_limit(
    tmp_path: Path, embedder: USEEmbedder, fusion: str
) -> None:
    # No rank past the first ``candidates`` (where it counts for nothing): a keyword candidate's
    # place after the dense list is only how far that list was asked to go, which the limit sets.
    amem = await _store(tmp_path, embedder, {"candidates": 8, "fusion": fusion})
    try:
        for query in ("coffee with chess", "movies and guitar", "my dog on the beach"):
            long = await amem.search(query, user_id="u", limit=40, explain=True)
            for limit in (1, 5, 12):
                short = await amem.search(query, user_id="u", limit=limit, explain=True)
                assert [_ranks(h) for h in short] == [_ranks(h) for h in long[:limit]]
            for hit in long:
                assert hit.explain is not None
                for rank in ("dense_rank", "bm25_rank"):
                    assert hit.explain[rank] is None or 1 <= hit.explain[rank] <= 8  # type: ignore[operator]
                assert (hit.explain["bm25"] is None) == (hit.explain["bm25_rank"] is None)
    finally:
        await amem.close()


async def test_a_named_date_keeps_memories_without_a_timestamp(tmp_path: Path, embedder: USEEmbedder) -> None:
    # A memory added with no timestamp was said when it was added: favoured by a date that holds
    # that moment, never dropped by another date.
    amem = await _store(tmp_path, embedder, {"candidates": 8, "date_candidates": 40})
    try:
        hits = await amem.search(
            "chess on 3 May, 2024",
            user_id="u",
            filters={"kind": "episode"},
            limit=100,
            explain=True,
            reference_time=_NOW,
        )
        assert len(hits) == 90
        untimed = [h for h in hits if h.memory.event_time is None]
        assert len(untimed) == 30 and all(h.explain and h.explain["date_match"] is False for h in untimed)
    finally:
        await amem.close()
