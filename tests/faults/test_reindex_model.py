"""Moving a store to another embedding model with `memoryd reindex`: the memory hierarchy
follows (turn vectors and segment centroids of the new model), so later adds, the tree and
searches never mix vectors of two models."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.maintenance.check import check_store
from memoryd.maintenance.reindex import reindex_store
from memoryd.models import Scope
from tests.faults.embedders import HalfEmbedder

TURNS = [
    "I adopted a golden retriever named Biscuit",
    "Biscuit loves the beach in the morning",
    "I work as a nurse at the city hospital",
    "Night shifts at the hospital are exhausting",
    "We are planning a trip to Japan in spring",
    "I want to see the cherry blossoms in Kyoto",
]


async def test_reindex_onto_another_model_moves_the_hierarchy_too(
    tmp_path: Path, embedder: USEEmbedder, half: type[HalfEmbedder]
) -> None:
    base = {"path": str(tmp_path / "m.db"), "synchronous": "NORMAL"}
    tiers = {"short_term_turns": 2, "short_term_sessions": 1}
    use = load_settings(env={}, overrides={"storage": base, "tiers": tiers})
    async with AsyncMemory(use, embedder=embedder) as mem:
        for i, text in enumerate(TURNS):
            await mem.add({"role": "user", "content": text}, user_id="ana", run_id=f"s{i // 2}")
        before = await mem.storage.segments.segments(Scope("ana"))  # type: ignore[union-attr]
    assert before and all(s.centroid.shape == (512,) for s in before)

    other = load_settings(
        env={}, overrides={"storage": base, "tiers": tiers, "embedder": {"provider": "half"}}
    )
    summary = await reindex_store(other)
    assert summary.dim == 256 and summary.memories >= len(TURNS)
    async with AsyncMemory(other) as mem:
        after = await mem.storage.segments.segments(Scope("ana"), evicted=True)  # type: ignore[union-attr]
        assert {s.id for s in after} == {s.id for s in before}
        assert all(s.centroid.shape == (256,) and np.isfinite(s.centroid).all() for s in after)
        # the next turns are compared with centroids of the same model, and the tree reads fine
        await mem.add(
            {"role": "user", "content": "Biscuit chewed my shoes again"}, user_id="ana", run_id="s9"
        )
        await mem.add({"role": "user", "content": "Kyoto hotels are booked"}, user_id="ana", run_id="s10")
        tree = await mem.tree("ana")
        hits = await mem.search("what is my dog called?", user_id="ana")
    assert tree["counts"]["episodes"] == len(TURNS) + 2
    assert "Biscuit" in hits[0].memory.text
    report = await check_store(other)
    assert report.ok, report.problems
