"""What an import into a new store leaves behind when it is refused, fails or is killed, and its
removal: the SQLite files (the database, its WAL, the WAL-reset guard's lock file), the folders the
import made for it (a tenant's), and what the store claimed in another engine — a Qdrant or Milvus
collection, a PostgreSQL table, a FalkorDB graph — found by the store's id, which each records
(:func:`memoryd.storage.store_id`): an index or graph that records another store, or none, is
never touched.

``memoryd import`` removes them itself when it fails; a store left by an import that was killed
(it refuses to open, and ``memoryd check`` says so) is removed by ``memoryd import --restart``.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from memoryd.config import Settings
from memoryd.errors import ConflictError, MemorydError
from memoryd.storage import IMPORT_UNFINISHED, STORE_ID, build_storage
from memoryd.storage.sqlite.wal_guard import SUFFIX as LOCK_SUFFIX

__all__ = ["new_folders", "remove_store", "restart", "unfinished_import"]

_PARTS = ("", "-wal", "-shm", "-journal", LOCK_SUFFIX)


def _meta(path: Path, key: str) -> str | None:
    """The meta value ``key`` of the SQLite store at ``path`` (read only; None when missing)."""
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return str(row[0]) if row and row[0] else None


def _mark(path: Path, source: str) -> None:
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (IMPORT_UNFINISHED, source),
        )


def unfinished_import(path: Path) -> str | None:
    """The file whose import into the new store at ``path`` did not finish, if one did not."""
    return _meta(path, IMPORT_UNFINISHED)


def new_folders(path: Path) -> list[Path]:
    """The folders a store at ``path`` would make (missing now), deepest first."""
    missing: list[Path] = []
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


async def remove_store(settings: Settings, folders: list[Path] | None = None, *, source: str = "") -> None:
    """Delete the store at ``storage.path`` with the vector index and graph that record its id,
    then ``folders`` (:func:`new_folders`, taken before the store was made) left empty. When an
    engine cannot be asked (down), the SQLite store is kept, so that what it claimed can still be
    found, marked as an unfinished import of ``source`` (it refuses to open; ``memoryd import
    --restart`` finishes the removal once the engine is back), and the failure is raised."""
    path = settings.storage.path
    store = _meta(path, STORE_ID)
    if store:
        storage = build_storage(settings)
        try:
            for role in (storage.vectors, storage.graph):
                release = getattr(role, "release", None)  # only an index or graph in another engine
                if release is not None:
                    await release(store)
        except MemorydError:
            if source and not unfinished_import(path):
                _mark(path, source)
            raise
    for suffix in _PARTS:
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    for folder in folders or ():
        try:
            folder.rmdir()
        except OSError:  # not empty (something else is in it) or gone
            break


async def restart(settings: Settings) -> str:
    """Remove the store an import left unfinished (``memoryd import --restart``); refuse any other
    store. The file that import was reading."""
    path = settings.storage.path
    source = unfinished_import(path)
    if source is None:
        raise ConflictError(
            f"--restart removes only a store an import left unfinished, and the store at {path} is not "
            "one (or does not exist): nothing was deleted",
            field="restart",
        )
    await remove_store(settings)  # an engine down: raised, the store kept for the next --restart
    return source
