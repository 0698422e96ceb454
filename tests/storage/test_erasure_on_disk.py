"""Forgetting a user leaves none of their text in the bytes of the SQLite file or its WAL.

Deleting rows is not enough: SQLite leaves a deleted row's bytes in the free space of its page
(or in a freed page) until something overwrites them, the WAL keeps every page version written
since its last restart, and the keyword index keeps a deleted text's terms in older segments.
These tests read the files as an attacker with the disk would, not through SQLite.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import StorageError
from memoryd.storage.sqlite import database
from memoryd.storage.sqlite.database import SQLiteDatabase

# Words nobody else says, and their index terms (memoryd.text.tokenize keeps them whole); the
# tails catch a term that FTS5 stored prefix-compressed after a neighbour sharing its start.
SECRETS = ("Quetzalcoatl", "Zirconium", "Xylophonia", "Ouagadougou")
TAILS = ("zalcoatl", "rconium", "lophonia", "gadougou")
WHO = "user-quokka-4417"


def _secret_text(n: int) -> str:
    return (
        f"Note {n}: my locker code word is Quetzalcoatl Zirconium, and my cousin Xylophonia "
        f"moved to Ouagadougou in year {1990 + n}."
    )


def _other_text(n: int) -> str:
    return f"Entry {n}: I enjoy cycling along the river and cooking lentil soup on day {n}."


def _files(path: Path) -> dict[str, bytes]:
    """The database file and, while it exists, its WAL (and shared-memory index)."""
    out = {}
    for suffix in ("", "-wal", "-shm"):
        f = path.with_name(path.name + suffix)
        if f.exists():
            out[f.name] = f.read_bytes()
    return out


def _leaks(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, data in _files(path).items():
        lowered = data.lower()
        hits = [n for n in (*SECRETS, *TAILS, WHO) if n.lower().encode() in lowered]
        if hits:
            found[name] = hits
    return found


async def _fill(mem: AsyncMemory) -> None:
    """Their memories interleaved with someone else's, so they share pages that stay in use."""
    for batch in range(6):
        messages = []
        for i in range(20):
            n = batch * 20 + i
            messages.append({"role": "user", "content": _secret_text(n) if i % 3 == 0 else _other_text(n)})
        ours = [m for k, m in enumerate(messages) if k % 3 == 0]
        theirs = [m for k, m in enumerate(messages) if k % 3 != 0]
        await mem.add(ours, user_id=WHO, run_id=f"s{batch}")
        await mem.add(theirs, user_id="bob", run_id=f"b{batch}")
    await mem.update((await mem.get_all(user_id=WHO, limit=1)).items[0].id, _secret_text(999) + " Edited.")


async def test_a_forgotten_users_text_is_in_neither_the_database_file_nor_the_wal(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    path = tmp_path / "erase.db"
    settings = load_settings(env={}, overrides={"storage": {"path": str(path)}})
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await _fill(mem)
        assert set(_leaks(path).get("erase.db", [])) | set(_leaks(path).get("erase.db-wal", [])) >= {
            *SECRETS,
            WHO,
        }  # the scan sees them while they are there
        assert await mem.delete_user(WHO) > 0
        # once the call returns, while the store stays open (a server's does)
        assert _leaks(path) == {}
        wal = path.with_name(path.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        # what is left is still there, and still found
        assert [h.memory.text for h in await mem.search("lentil soup", user_id="bob", limit=1)]
        assert b"lentil" in b"".join(_files(path).values())
    assert _leaks(path) == {}


async def test_what_is_written_after_an_erasure_is_not_lost(tmp_path: Path, embedder: USEEmbedder) -> None:
    """The WAL is emptied, not thrown away: a commit right after the erasure stays."""
    path = tmp_path / "after.db"
    settings = load_settings(env={}, overrides={"storage": {"path": str(path)}})
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await _fill(mem)
        await mem.delete_user(WHO)
        await mem.add("I keep bees on the roof.", user_id="bob")
    async with AsyncMemory(settings, embedder=embedder) as mem:
        assert "I keep bees on the roof." in [h.memory.text for h in await mem.search("bees", user_id="bob")]
        assert (await mem.get_all(user_id=WHO, limit=1)).total == 0


async def test_a_reset_leaves_no_text_in_the_files(tmp_path: Path, embedder: USEEmbedder) -> None:
    path = tmp_path / "reset.db"
    settings = load_settings(env={}, overrides={"storage": {"path": str(path)}})
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await _fill(mem)
        await mem.reset()
        assert _leaks(path) == {}
        assert b"lentil" not in b"".join(_files(path).values())


async def test_the_wal_is_emptied_once_no_reader_is_left_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "m.db"
    wal = tmp_path / "m.db-wal"
    db = SQLiteDatabase(path)
    db.open()
    try:
        await db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b TEXT)"))
        await db.write(lambda c: c.execute("INSERT INTO t (b) VALUES ('Quetzalcoatl')"))
        reader = sqlite3.connect(path, isolation_level=None)  # another process's, say
        reader.execute("BEGIN")
        assert reader.execute("SELECT b FROM t").fetchall() == [("Quetzalcoatl",)]
        await db.write(lambda c: c.execute("DELETE FROM t"))
        monkeypatch.setattr(database, "_TRUNCATE_S", 0.3)
        with caplog.at_level(logging.WARNING, logger=database.__name__):
            assert await db.truncate_wal() is False  # its snapshot still reads the older pages
        assert "could not be emptied" in caplog.text
        assert wal.stat().st_size > 0
        # While it waits for that reader, writes go on: a try holds the write lock only briefly.
        monkeypatch.setattr(database, "_TRUNCATE_S", 5.0)
        waiting = asyncio.ensure_future(db.truncate_wal())
        await asyncio.sleep(0.3)
        await db.write(lambda c: c.execute("INSERT INTO t (b) VALUES ('meanwhile')"))
        assert not waiting.done()  # the write went through before the erasure gave up
        reader.execute("COMMIT")
        reader.close()
        assert await waiting is True  # ... and the erasure ends once the reader has left
        await db.write(lambda c: c.execute("DELETE FROM t"))
        assert await db.truncate_wal() is True
        assert wal.stat().st_size == 0
        assert b"Quetzalcoatl" not in path.read_bytes()
        await db.write(lambda c: c.execute("INSERT INTO t (b) VALUES ('after')"))  # writes go on
        assert await db.read(lambda c: c.execute("SELECT b FROM t").fetchall()) == [("after",)]
    finally:
        db.close()
    with pytest.raises(StorageError, match="not open"):
        await db.truncate_wal()
