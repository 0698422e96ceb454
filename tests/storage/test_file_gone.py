"""A store whose file is deleted or replaced while open refuses writes, rather than lose them.

An open SQLite connection goes on committing into a file unlinked behind its back: memoryd
answered ``ADD`` for every write, ``/health`` said ok, and a restart found none of them. The
writer now checks, before each commit, that the file and its WAL at ``storage.path`` are still
the ones it opened: a write then is a 503 naming the fix, and ``/health`` says unavailable.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from memoryd import AsyncMemory
from memoryd.config import Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import StorageError


def _files(path: Path) -> list[Path]:
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


async def test_a_deleted_store_refuses_writes_and_reports_itself_down(
    settings: Settings, embedder: USEEmbedder
) -> None:
    path = settings.storage.path
    mem = await AsyncMemory(settings, embedder=embedder).open()
    try:
        await mem.add("I like green tea", user_id="ana")
        for file in _files(path):
            os.remove(file)
        with pytest.raises(StorageError, match="was deleted while memoryd had it open") as refused:
            await mem.add("I like coffee", user_id="ana")
        assert refused.value.status_code == 503 and refused.value.field == "storage.path"
        health = await mem.health()
        assert health["status"] == "unavailable"
        assert "Restart memoryd" in health["checks"]["storage"]["error"]
    finally:
        await mem.close()


async def test_a_store_replaced_under_it_refuses_writes(
    settings: Settings, embedder: USEEmbedder, tmp_path: Path
) -> None:
    path = settings.storage.path
    mem = await AsyncMemory(settings, embedder=embedder).open()
    try:
        await mem.add("I like green tea", user_id="ana")
        await mem.add("I like black tea", user_id="ana")
        copy = tmp_path / "copy"
        copy.mkdir()
        for file in _files(path):  # a restore from a copy: same bytes, another file
            shutil.copy2(file, copy / file.name)
            os.replace(copy / file.name, file)
        with pytest.raises(StorageError, match="was replaced by another file"):
            await mem.add("I like coffee", user_id="ana")
    finally:
        await mem.close()
    reopened = await AsyncMemory(settings, embedder=embedder).open()  # the restart the error asks for
    try:
        assert (await reopened.add("I like coffee", user_id="ana"))[0].event.value == "ADD"
        texts = {m.text for m in (await reopened.get_all(user_id="ana")).items}
        assert {"I like green tea", "I like black tea", "I like coffee"} <= texts
    finally:
        await reopened.close()


async def test_another_process_opening_and_closing_the_store_changes_nothing(
    settings: Settings, embedder: USEEmbedder
) -> None:
    mem = await AsyncMemory(settings, embedder=embedder).open()
    try:
        await mem.add("I like green tea", user_id="ana")
        for _ in range(2):  # the CLI beside a server: opens the same file, writes, closes
            other = await AsyncMemory(settings, embedder=embedder).open()
            await other.add("I like black tea", user_id="bo")
            await other.close()
        await mem.delete_user("bo")  # empties the WAL: the same file, truncated
        assert (await mem.add("I like coffee", user_id="ana"))[0].event.value == "ADD"
        assert (await mem.health())["status"] == "ok"
    finally:
        await mem.close()


async def test_reading_a_deleted_store_leaves_no_empty_store_at_its_path(tmp_path: Path) -> None:
    # Only the writer may make the file: a reader (or the checkpointer, or the change checker)
    # connecting after the file was deleted made an empty one at storage.path, which looks like a
    # store and which a restart then opened as one.
    from memoryd.storage.sqlite.database import SQLiteDatabase

    path = tmp_path / "gone.db"
    db = SQLiteDatabase(path)
    db.open()
    try:
        for file in _files(path):
            os.remove(file)
        with pytest.raises(StorageError, match="was deleted while memoryd had it open"):
            await db.read(lambda conn: conn.execute("SELECT gen FROM memoryd_generation").fetchone())
        with pytest.raises(StorageError, match="was deleted while memoryd had it open"):
            db.catch_up()
        assert _files(path) == []
    finally:
        db.close()
