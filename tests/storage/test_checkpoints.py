"""The WAL is copied back into the database file in the background, not by a commit."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from memoryd.storage.sqlite.database import SQLiteDatabase

_ROW = b"x" * 60_000  # about 15 pages


async def _commits(db: SQLiteDatabase, n: int) -> None:
    await db.write(lambda c: c.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, b BLOB)"))
    for _ in range(n):
        await db.write(lambda c: c.execute("INSERT INTO t (b) VALUES (?)", (_ROW,)))
        await asyncio.sleep(0.01)


async def _settled(path: Path, rows: int) -> None:
    """Wait until the database file itself (not the WAL) holds ``rows`` rows' pages."""
    for _ in range(500):
        if path.stat().st_size >= rows * len(_ROW):
            return
        await asyncio.sleep(0.02)


async def test_commits_are_checkpointed_in_the_background_and_the_wal_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    db = SQLiteDatabase(path)
    db.open()
    try:
        await _commits(db, 200)  # about 12 MB: twelve times SQLite's own 1,000-page mark
        await _settled(path, 200)
        # The rows reached the database file while the writer never checkpoints (autocheckpoint
        # is off on its connection) ...
        assert path.stat().st_size >= 200 * len(_ROW)
        # ... and the WAL was reused rather than growing with every commit.
        assert (tmp_path / "m.db-wal").stat().st_size < 100 * len(_ROW)
    finally:
        db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 200


async def test_close_stops_the_checkpoint_thread(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "m.db")
    db.open()
    await _commits(db, 3)
    db.close()  # hangs if the thread misses the wake-up
    assert db._checkpointer is not None and not db._checkpointer.is_alive()


async def test_a_short_lived_writer_leaves_its_commits_checkpointed(tmp_path: Path) -> None:
    """A CLI command writes and exits at once while a server keeps the file open (so SQLite's
    own checkpoint on the last close does not happen): its pages still reach the file."""
    path = tmp_path / "m.db"
    server = SQLiteDatabase(path)
    server.open()
    try:
        await server.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)"))
        await asyncio.sleep(0.2)
        before = path.stat().st_size
        cli = SQLiteDatabase(path)
        cli.open()
        for _ in range(3):
            await cli.write(lambda c: c.execute("INSERT INTO t (b) VALUES (?)", (_ROW,)))
        cli.close()  # at once: before the checkpoint thread's gathering pause ends
        assert path.stat().st_size >= before + 3 * len(_ROW)
        assert await server.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 3
    finally:
        server.close()


async def test_a_new_store_and_key_file_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    import stat

    from memoryd.config import load_settings
    from memoryd.storage import build_storage
    from memoryd.storage.sqlite.keys import SQLiteKeyStore

    path = tmp_path / "fresh" / "memoryd.db"
    tenant = tmp_path / "fresh" / "tenants" / "acme" / "memoryd.db"  # two folders made at once
    storage = build_storage(load_settings(env={}, overrides={"storage": {"path": str(path)}}))
    await storage.open("test-model", 8)
    await storage.close()
    SQLiteKeyStore(tmp_path / "fresh" / "keys.db").close()
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
    assert modes["memoryd.db"] == modes["keys.db"] == 0o600, modes  # not 0644: other local accounts
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes  # -wal, -shm alike
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    storage = build_storage(load_settings(env={}, overrides={"storage": {"path": str(tenant)}}))
    await storage.open("test-model", 8)
    await storage.close()
    for folder in (tenant.parent, tenant.parent.parent):  # tenants/ too: it lists the tenants
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
