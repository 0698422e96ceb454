"""Search through the public API on a real store: what a user sees of scores and caches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory, Settings, load_settings
from memoryd.embedders.use import USEEmbedder


def _settings(tmp_path: Path, **sections: dict[str, Any]) -> Settings:
    return load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "memoryd.db")}, **sections})


async def test_recency_is_measured_at_the_askers_reference_time(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = _settings(tmp_path, search={"recency_weight": 1.0, "recency_half_life_days": 30})
    async with AsyncMemory(settings, embedder=embedder) as amem:
        await amem.add("I went hiking on Mount Tam", user_id="ana", timestamp="2023-06-01T10:00:00Z")
        await amem.add("I went hiking on Mount Diablo", user_id="ana", timestamp="2023-01-01T10:00:00Z")
        hits = await amem.search(
            "hiking trip", user_id="ana", explain=True, reference_time="2023-06-02T00:00:00Z"
        )
    by_text = {h.memory.text: h for h in hits}
    recent = by_text["I went hiking on Mount Tam"].explain
    old = by_text["I went hiking on Mount Diablo"].explain
    assert recent is not None and old is not None
    # Said 14 hours before the asker's now: barely aged (it read 0.0 against the wall clock).
    assert 0.98 < recent["recency"] <= 1.0  # type: ignore[operator]
    assert 0.02 < old["recency"] < 0.05  # type: ignore[operator]  # five half-lives earlier


_TOPICS = ["hiking", "cooking", "python code", "my dog", "the beach", "guitar", "chess", "coffee", "football",
           "gardening", "movies", "travel to Japan"]
_VERBS = ["I really enjoy", "Yesterday I talked about", "My friend hates", "We planned", "I read an article on",
          "Thinking about", "Nothing beats", "I'm tired of"]


def _chatter(n: int) -> list[dict[str, str]]:
    """``n`` turns on a few topics: many share words with a query, few share all of them."""
    turns = []
    for i in range(n):
        verb, a, b = _VERBS[i % 8], _TOPICS[(i * 5) % 12], _TOPICS[(i * 7 + 3) % 12]
        turns.append({"role": "user", "content": f"{verb} {a} number {i} with {b}"})
    return turns


@pytest.mark.parametrize("fusion", ["score", "rrf"])
async def test_a_larger_limit_only_appends_hits(tmp_path: Path, embedder: USEEmbedder, fusion: str) -> None:
    # 30 candidates per retriever, 120 memories: limit=60 asks each retriever for more than 30.
    settings = _settings(tmp_path, search={"candidates": 30, "fusion": fusion})
    async with AsyncMemory(settings, embedder=embedder) as amem:
        await amem.add(_chatter(120), user_id="u")
        for query in ("movies night", "coffee and chess", "a walk on the beach with my dog"):
            short = await amem.search(query, user_id="u", limit=10, explain=True)
            long = await amem.search(query, user_id="u", limit=60, explain=True)
            assert len(short) == 10 and len(long) == 60
            assert [(h.memory.id, h.score) for h in long[:10]] == [(h.memory.id, h.score) for h in short]
            # A memory found by both scores the same, whatever the limit; and so do its parts.
            parts = {h.memory.id: h.explain for h in long}
            assert all(parts[h.memory.id] == h.explain for h in short)


@pytest.mark.parametrize("fusion", ["score", "rrf"])
async def test_a_threshold_only_removes_hits(tmp_path: Path, embedder: USEEmbedder, fusion: str) -> None:
    settings = _settings(tmp_path, search={"fusion": fusion})
    texts = ["I adopted a golden retriever named Biscuit", "My cat sleeps all day", "I love pizza with pineapple",
             "The dog park is near my house", "Biscuit loves chasing squirrels",
             "I went to the vet yesterday with my puppy", "Quantum physics is hard", "I bought a new leash",
             "Cats and dogs are both great pets", "My favourite food is sushi"]
    async with AsyncMemory(settings, embedder=embedder) as amem:
        for text in texts:
            await amem.add(text, user_id="u")
        every = await amem.search("squirrels and cats", user_id="u", explain=True)
        for floor in (0.2, 0.3, 0.45):
            kept = await amem.search("squirrels and cats", user_id="u", threshold=floor, explain=True)
            passing = [h for h in every if h.explain and h.explain["dense_cosine"] >= floor]  # type: ignore[operator]
            assert [(h.memory.id, h.score) for h in kept] == [(h.memory.id, h.score) for h in passing]
            assert 0 < len(kept) < len(texts)


async def test_rank_fusion_orders_ties_the_same_live_and_after_reopening(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    """Three memories with the same BM25 score; one is edited (same length, same score)."""
    settings = _settings(tmp_path, search={"fusion": "rrf"})

    async def order(amem: AsyncMemory) -> list[tuple[str, str, float, object]]:
        hits = await amem.search("beach", user_id="u", explain=True)
        return [(h.memory.id, h.memory.text, h.score, (h.explain or {})["bm25_rank"]) for h in hits]

    async with AsyncMemory(settings, embedder=embedder) as amem:
        ids = [(await amem.add(t, user_id="u"))[0].id for t in ["beach day one", "beach day two", "beach day six"]]
        before = await order(amem)
        await amem.update(ids[0], "beach day ten")
        live = await order(amem)
    async with AsyncMemory(settings, embedder=embedder) as amem:
        reopened = await order(amem)
    assert live == reopened
    # Equal BM25 scores rank by memory id: the edited memory keeps its place among them.
    assert [rank for *_, rank in sorted(live)] == [1, 2, 3]
    assert [(mid, rank) for mid, _, _, rank in sorted(before)] == [(mid, rank) for mid, _, _, rank in sorted(live)]
