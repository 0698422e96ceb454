"""``memoryd check`` on a store another writer is adding to: it reads the records and each index
a page at a time, so a write landing between two reads looked like a memory with no vector, or a
vector of no memory; it told the operator to reindex a sound store."""

from __future__ import annotations

from pathlib import Path

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.maintenance import check_store
from tests.writers import busy_writer


async def test_check_beside_a_busy_writer_reports_only_what_is_there(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "busy.db")}})
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add([f"note {i} about the garden" for i in range(200)], user_id="ana")
        async with busy_writer(mem, "bo") as made:
            reports = [await check_store(settings, embedder=embedder) for _ in range(6)]
    assert made[0] > 6  # it wrote all along
    assert [p.message for r in reports for p in r.problems] == []
    assert (await check_store(settings, embedder=embedder)).ok
