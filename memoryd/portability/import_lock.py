"""The lock a ``memoryd import`` holds for its whole run: ``<store>-import.lock`` beside the store,
an exclusive ``fcntl.flock`` taken without waiting before the import decides whether the store is
new. A second import into the same store, or a ``memoryd import --restart`` of it, is refused at
once while one runs (the first would import into a store the second is making, or have its store
deleted by the second's clean-up); a failed import cleans up only while it holds the lock.

The file also records what the import made beside its store that did not exist before: another
engine's local-mode folder (Qdrant's, Milvus Lite's). An import that is killed leaves the file with
that record; ``--restart`` (holding the lock in its turn) reads it, so it removes such a folder only
if that import made it. It is not the ``<store>-memoryd.lock`` of the WAL-reset guard
(:mod:`memoryd.storage.sqlite.wal_guard`), which every commit takes.

Where ``fcntl`` is missing (Windows) no lock is taken and no file is written: two imports into one
store at a time are not refused there.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from types import TracebackType

from memoryd.errors import ConflictError

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["SUFFIX", "ImportLock", "new_folders"]

SUFFIX = "-import.lock"


def new_folders(path: Path) -> list[Path]:
    """The folders a store at ``path`` would make (missing now), deepest first."""
    missing: list[Path] = []
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


class ImportLock:
    """The import lock of the store at ``store`` (``with ImportLock(path) as lock``): taken, or a
    :class:`ConflictError` at once. The folders the store would make that are missing now are
    made for the lock file (owner only, as the store's own are) and, at the end, removed again
    when empty (the import failed, or was refused)."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.path = Path(f"{store}{SUFFIX}")
        self.folders = new_folders(store)
        self.keep = False  # leave the file at the end: the store is an unfinished import's
        self._fd: int | None = None

    def __enter__(self) -> ImportLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, or raise :class:`ConflictError` at once (an import holds it)."""
        if fcntl is None:  # pragma: no cover - Windows: no lock
            return
        try:
            for _ in range(3):  # the path named another file than the one locked: again
                if self._take():
                    return
            raise ConflictError(f"could not take the import lock {self.path}: it kept being replaced",
                                field="storage.path")  # fmt: skip
        except BaseException:
            self._remove_folders()
            raise

    def _take(self) -> bool:
        for folder in reversed(self.folders):
            folder.mkdir(mode=0o700, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:  # its folder was just removed by an import that ended
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            running = self._pid(fd)
            os.close(fd)
            raise ConflictError(
                f"another `memoryd import` into {self.store} is running{running} (it holds {self.path}): "
                "wait for it to finish; nothing was changed",
                field="storage.path",
            ) from None
        try:  # the import that held it may have removed the file before we locked it
            held, named = os.fstat(fd), os.stat(self.path)
            same = (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return False
        self._fd = fd
        self.record(self.made())  # this process's id, for an import refused meanwhile; the record kept
        return True

    @staticmethod
    def _pid(fd: int) -> str:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            pid = json.loads(os.pread(fd, 4096, 0) or b"{}").get("pid")
            if isinstance(pid, int):
                return f" (process {pid})"
        return ""

    def _journal(self) -> dict[str, object]:
        if self._fd is None:
            return {}
        try:
            found = json.loads(os.pread(self._fd, 1 << 20, 0) or b"{}")
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def made(self) -> list[Path]:
        """What the import that last held the lock recorded it made (:meth:`record`): read by
        ``--restart`` after a killed import. Empty when nothing was recorded (no lock: Windows)."""
        made = self._journal().get("made")
        return [Path(p) for p in made if isinstance(p, str)] if isinstance(made, list) else []

    def record(self, made: list[Path]) -> None:
        """Record what this import is about to make (another engine's local-mode folder), before
        it makes it."""
        if self._fd is None:
            return
        data = json.dumps({"pid": os.getpid(), "made": [str(p) for p in made]}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        """Remove the lock file (unless :attr:`keep`) while still holding it, let go of it, and
        remove the folders made for it that are empty."""
        fd, self._fd = self._fd, None
        if fd is not None:
            if not self.keep:  # removed while still held: the next import locks a file of its own
                self.path.unlink(missing_ok=True)
            os.close(fd)
        self._remove_folders()

    def _remove_folders(self) -> None:
        for folder in self.folders:
            try:
                folder.rmdir()
            except OSError:  # not empty (the store is in it, or something else) or gone
                break
