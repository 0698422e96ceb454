"""What an import into a new store leaves behind when it is refused, fails or is killed, and its
removal: the SQLite files (the database, its WAL, the WAL-reset guard's lock file), what the
store claimed in another engine — a Qdrant or Milvus collection, a PostgreSQL table, a FalkorDB
graph — found by the store's id, which each records (:func:`memoryd.storage.store_id`): an index or
graph that records another store, or none, is never touched; and a local-mode folder of Qdrant or
Milvus Lite only if the import made it (one that was there before is never removed, nor anything in
it but the collection). The folders made for the store (a tenant's) go with the import's lock
(:mod:`memoryd.portability.import_lock`), which every removal here runs under.

``memoryd import`` removes them itself when it fails; a store left by an import that was killed
(it refuses to open, and ``memoryd check`` says so) is removed by ``memoryd import --restart``.
Whose store's file was then deleted by hand, its index or graph is still found by the claim that
import recorded there (:mod:`memoryd.storage.claims`), and ``--restart`` releases it while no store
at that claim's path holds its id.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from memoryd.config import Settings
from memoryd.errors import ConflictError, MemorydError
from memoryd.portability.import_lock import new_folders
from memoryd.storage import IMPORT_PARTIAL, IMPORT_UNFINISHED, STORE_ID, build_storage
from memoryd.storage.sqlite.wal_guard import SUFFIX as LOCK_SUFFIX

__all__ = [
    "Made", "claim", "local_paths", "partial_import", "release_abandoned", "remove_store", "restart",
    "unfinished_import",
]  # fmt: skip

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


def partial_import(path: Path) -> str | None:
    """The file whose import into the store at ``path``, which held memories already, did not
    finish, if one did not (``memoryd import --restart`` removes what it wrote:
    :mod:`memoryd.portability.undo`)."""
    return _meta(path, IMPORT_PARTIAL)


@dataclass(frozen=True)
class Made:
    """What an import into a new store made (:func:`claim`): the SQLite file it created (its device
    and inode: a file put at the path by anything else is never removed as this import's), and the
    local-mode folders (files) of other engines that were not there before it."""

    file: tuple[int, int]
    local: tuple[Path, ...]


def local_paths(settings: Settings) -> list[Path]:
    """The local-mode folders (files) of the store's engines other than SQLite: Qdrant's, Milvus
    Lite's (none for a server)."""
    storage = build_storage(settings)  # nothing is opened
    found: list[Path] = []
    for role in (storage.vectors, storage.graph):
        path = getattr(role, "local_path", None)
        if isinstance(path, Path) and not getattr(role, "remote", True):
            found.append(path.absolute())
    return found


def claim(settings: Settings) -> Made | None:
    """Create the SQLite file of a new store (empty, owner only; its missing folders too), noting
    which local-mode folders of other engines are not there yet; None when a file appeared at the
    path meanwhile (not this import's to remove)."""
    path = settings.storage.path
    local = tuple(p for p in local_paths(settings) if not p.exists())
    for folder in reversed(new_folders(path)):
        folder.mkdir(mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return None
    try:
        made = os.fstat(fd)
    finally:
        os.close(fd)
    return Made((made.st_dev, made.st_ino), local)


def _is(path: Path, file: tuple[int, int]) -> bool:
    try:
        found = os.stat(path)
    except OSError:
        return False
    return (found.st_dev, found.st_ino) == file


async def remove_store(
    settings: Settings, made: Made | None = None, *, local: Sequence[Path] = (), source: str = ""
) -> None:
    """Delete the store at ``storage.path`` with the vector index and graph that record its id; a
    local-mode folder (file) of another engine goes too when it is among ``local`` (made by the
    import, :class:`Made`) and holds no collection any more. With ``made``, only the SQLite file
    that import created is removed: another file at the path is left as it is. When an engine
    cannot be asked (down), the SQLite store is kept, so that what it claimed can still be found,
    marked as an unfinished import of ``source`` (it refuses to open; ``memoryd import --restart``
    finishes the removal once the engine is back), and the failure is raised."""
    path = settings.storage.path
    if made is not None:
        if not _is(path, made.file):  # gone, or another store's: nothing of this import's is there
            return
        local = made.local
    store = _meta(path, STORE_ID)
    if store:
        storage = build_storage(settings)
        try:
            for role in (storage.vectors, storage.graph):
                release = getattr(role, "release", None)  # only an index or graph in another engine
                if release is not None:
                    await release(store, made=local)
        except MemorydError:
            if source and not unfinished_import(path):
                _mark(path, source)
            raise
    for suffix in _PARTS:
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def restart(settings: Settings, local: Sequence[Path] = ()) -> str:
    """Remove the store an import left unfinished (``memoryd import --restart``, holding the import
    lock: :mod:`memoryd.portability.import_lock`), with the local-mode folders among ``local`` (what
    that import recorded it made); refuse any other store. The file that import was reading.

    When the store's file is gone (deleted by hand after the import was killed), the index or graph
    in another engine that such an import claimed is released instead (:func:`release_abandoned`)."""
    path = settings.storage.path
    source = unfinished_import(path)
    if source is None and not path.exists():
        source = await release_abandoned(settings, local)
    if source is None:
        what = (
            f"the store at {path} is not one (no import into it is unfinished)"
            if path.exists()
            else f"there is no store at {path}, nor an unfinished import into one"
        )
        raise ConflictError(
            f"--restart removes only a store an import left unfinished, and {what}: nothing was deleted; "
            "to import the file, run the import without --restart",
            field="restart",
        )
    # an engine down: raised, the store kept for the next --restart (gone: what is left of its files goes)
    await remove_store(settings, local=local)
    return source


async def release_abandoned(settings: Settings, local: Sequence[Path] = ()) -> str | None:
    """Release the vector index and graph in another engine (of these settings) that an unfinished
    import into a new store claimed, whose store is gone (:mod:`memoryd.storage.claims`), with the
    local-mode folders among ``local`` once empty. The file that import was reading; None when no
    such claim was found. A claim whose store still exists is refused (:class:`ConflictError`):
    nothing is released then."""
    storage = build_storage(settings)  # nothing is opened
    found: str | None = None
    for role in (storage.vectors, storage.graph):
        release = getattr(role, "release_abandoned", None)  # only an index or graph in another engine
        if release is not None:
            claim = await release(made=local)
            found = found or (claim.source if claim is not None else None)
    return found
