"""``memoryd check`` counts history rows left by memories that are gone in good English: "history of
1 memory that neither exists nor was deleted", not "1 memories that neither exist"."""

from __future__ import annotations

from pathlib import Path

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.maintenance import check_store
from tests.faults.test_index_damage import damage


async def test_history_of_one_or_two_lost_memories_is_counted_in_the_right_number(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "h.db")}})
    async with AsyncMemory(settings, embedder=embedder) as mem:
        ids = [r.id for r in await mem.add(["I keep bees", "I grow tomatoes"], user_id="u")]
    said = []
    for gone in ids:  # a memory row lost, its history (no DELETE in it) left behind
        damage(settings.storage.path, "DELETE FROM memories WHERE id = ?", params=(gone,))
        report = await check_store(settings, embedder=embedder)
        said.append(" ".join(p.message for p in report.problems if "history of" in p.message))
    assert "history of 1 memory that neither exists nor was deleted" in said[0], said
    assert "history of 2 memories that neither exist nor were deleted" in said[1], said
