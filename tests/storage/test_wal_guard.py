"""The WAL-reset guard: on a SQLite with the WAL-reset race (3.7.0-3.51.2), a commit and a
checkpoint of any memoryd process never overlap. Another process is played by a descriptor of the
test's own on the lock file (flock excludes across open files, as across processes)."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from memoryd.storage.sqlite.database import SQLiteDatabase
from memoryd.storage.sqlite.wal_guard import SUFFIX, has_wal_reset_bug


@pytest.mark.parametrize(
    ("version", "affected"),
    [((3, 40, 1), True), ((3, 51, 2), True), ((3, 51, 3), False), ((3, 52, 0), False),
     ((3, 50, 6), True), ((3, 50, 7), False), ((3, 44, 5), True), ((3, 44, 6), False), ((3, 7, 0), True)],
)  # fmt: skip
def test_which_sqlite_versions_have_the_race(version: tuple[int, int, int], affected: bool) -> None:
    assert has_wal_reset_bug(version) is affected


@contextmanager
def another_process_holds(db_path: Path) -> Iterator[None]:
    fd = os.open(f"{db_path}{SUFFIX}", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@pytest.mark.skipif(not has_wal_reset_bug(), reason="this SQLite has the WAL-reset fix: no guard")
async def test_a_commit_and_a_wal_truncation_wait_for_another_process_holding_the_guard(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    db = SQLiteDatabase(path)
    db.open()
    try:
        await db.write(lambda conn: conn.execute("CREATE TABLE t (x INTEGER)"))
        with another_process_holds(path):  # its checkpoint, say, is running
            write = asyncio.ensure_future(db.write(lambda conn: conn.execute("INSERT INTO t VALUES (1)")))
            truncation = asyncio.ensure_future(db.truncate_wal())
            await asyncio.sleep(0.3)
            assert not write.done() and not truncation.done()
        await asyncio.wait_for(write, 5)
        assert await asyncio.wait_for(truncation, 5) is True
        assert await db.read(lambda conn: conn.execute("SELECT x FROM t").fetchall()) == [(1,)]
    finally:
        db.close()


@pytest.mark.skipif(not has_wal_reset_bug(), reason="this SQLite has the WAL-reset fix: no guard")
def test_the_api_key_store_writes_wait_for_another_process_holding_its_guard(tmp_path: Path) -> None:
    # the CLI and a server both write keys.db: a key made while another process checkpoints waits
    import threading
    from datetime import UTC, datetime

    from memoryd.auth.keys import new_key
    from memoryd.storage.sqlite.keys import SQLiteKeyStore

    path = tmp_path / "keys.db"
    store = SQLiteKeyStore(path)
    try:
        record = new_key("service", tenant="default", user_id=None, name="ci", now=datetime.now(UTC)).record
        with another_process_holds(path):
            made = threading.Thread(target=store.add, args=(record,), daemon=True)
            made.start()
            made.join(0.3)
            assert made.is_alive()
        made.join(5)
        assert store.count() == 1
    finally:
        store.close()
