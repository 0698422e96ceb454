"""A full disk: a clear StorageError, nothing acknowledged lost, no corruption (`check` passes).

SQLite's ``PRAGMA max_page_count`` on the store's writer connection makes the file unable to
grow, which is what a full disk does to it: the write that needs a new page fails with
SQLITE_FULL and rolls back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from memoryd import AsyncMemory, StorageError, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.maintenance import check_store
from memoryd.storage.sqlite.database import SQLiteDatabase


async def test_disk_full_is_a_clear_error_and_corrupts_nothing(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "full.db")}})
    acked: list[str] = []
    async with AsyncMemory(settings, embedder=embedder) as mem:
        for i in range(10):
            acked += [r.id for r in await mem.add(f"note {i} about the garden", user_id="ana", run_id="s")]
        db = mem.storage.records.db  # the SQLite file every embedded role writes
        assert isinstance(db, SQLiteDatabase)
        pages = await db.read(lambda conn: conn.execute("PRAGMA page_count").fetchone()[0])
        await db.write(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages + 4}"))
        with pytest.raises(StorageError, match="the disk is full") as caught:
            for i in range(500):
                texts = [f"long note {i}.{k} " + "words of filler text " * 40 for k in range(5)]
                acked += [r.id for r in await mem.add(texts, user_id="ana", run_id="s")]
        assert caught.value.status_code == 503
        # Everything acknowledged is there, and still found.
        stored = await mem.storage.records.get_many(acked)
        assert len(stored) == len(acked)
        assert (await mem.search("garden", user_id="ana"))[0].memory.text.endswith("about the garden")
        await db.write(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823"))  # space again
        assert (await mem.add("after the disk was freed", user_id="ana"))[0].event.value == "ADD"
    report = await check_store(settings, embedder=embedder)
    assert report.ok, report.problems
    assert report.counts["memories"] == len(acked) + 1 == report.counts["vectors"] == report.counts["keywords"]
