"""Search through the public API on a real store: what a user sees of scores and caches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
