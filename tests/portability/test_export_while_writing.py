"""An export of a store someone keeps writing (the server, pipeline workers) is one state of it.

It read the memories, then the history a page at a time: a memory added in between had its
history exported but not itself, and the restored store failed ``memoryd check`` ("history of
memories that neither exist nor were deleted")."""

from __future__ import annotations

from pathlib import Path

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.maintenance import check_store
from memoryd.portability import export_store, import_store
from tests.writers import busy_writer


async def test_an_export_beside_a_busy_writer_restores_into_a_sound_store(tmp_path: Path, embedder: USEEmbedder) -> None:
    live = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "live.db")}})
    async with AsyncMemory(live, embedder=embedder) as mem:
        await mem.add([f"note {i} about the garden" for i in range(300)], user_id="ana")
        exports = []
        async with busy_writer(mem, "bo", per_add=3):
            for n in range(3):
                path = tmp_path / f"backup{n}.jsonl"
                async with AsyncMemory(live, embedder=embedder) as other:  # as `memoryd export` does
                    await export_store(other, path, page_size=50)
                exports.append(path)
    for n, path in enumerate(exports):
        restored = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / f"restored{n}.db")}})
        async with AsyncMemory(restored, embedder=embedder) as copy:
            await import_store(copy, path)
        report = await check_store(restored, embedder=embedder)
        assert report.ok, [p.message for p in report.problems]
