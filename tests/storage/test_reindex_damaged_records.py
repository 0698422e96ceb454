"""``memoryd reindex`` over records it cannot read (a malformed file) advised itself: "`memoryd
reindex` rebuilds the indexes from the records". Its advice is now what repairs damaged records:
a backup, or an export of what is still readable, the file's -wal kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from memoryd import AsyncMemory, Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import StorageError
from memoryd.maintenance import reindex_store


async def _malformed(settings: Settings, embedder: USEEmbedder) -> None:
    """A store whose ``memories`` table's first page is overwritten with junk."""
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add(["I like green tea", "I live in Paris", "My dog is called Rex"], user_id="ana")
    path = Path(settings.storage.path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'memories'").fetchone()
    (size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    with path.open("r+b") as file:
        file.seek((root - 1) * size)
        file.write(b"\x0d" + b"\xff" * 50)


@pytest.mark.parametrize("keywords_only", [False, True])
async def test_reindex_of_malformed_records_does_not_advise_a_reindex(
    settings: Settings, embedder: USEEmbedder, keywords_only: bool
) -> None:
    await _malformed(settings, embedder)
    with pytest.raises(StorageError) as refused:
        await reindex_store(settings, embedder=embedder, keywords_only=keywords_only)
    message = refused.value.message
    assert "malformed" in message, message
    assert "`memoryd reindex` rebuilds" not in message
    assert "restore the last backup" in message and "`memoryd export --skip-unreadable`" in message
    assert "-wal" in message
    assert refused.value.details["repair"] != "memoryd reindex"
