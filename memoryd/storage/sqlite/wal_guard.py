"""A lock across processes that keeps SQLite checkpoints and commits apart: the WAL-reset bug.

SQLite 3.7.0 to 3.51.2 has a data race in WAL mode, "the WAL-reset bug" (fixed in 3.51.3,
backported to 3.50.7 and 3.44.6): a checkpoint that starts just after another one completed can
miss that a commit made meanwhile by another connection started the WAL over, and leave a wrong
count of copied frames in the WAL index; a later checkpoint then skips frames of a committed
transaction, and the database is corrupt ("database disk image is malformed"). memoryd runs its
checkpoints on a thread of their own, after bursts of commits, and a server and its workers write
one file from several processes: those are the bug's conditions. Measured: `memoryd bench
pipeline` (two workers and a server on one file) failed on "database disk image is malformed" in
1 of its first 3 runs on this machine's SQLite 3.40.1.

No package on PyPI puts a fixed SQLite under Python's ``sqlite3`` module (pysqlite3-binary bundles
3.51.1, sqlean.py 3.50.4), so with an affected SQLite every commit and every checkpoint of every
memoryd process holds an exclusive lock on a file beside the database (``<name>-memoryd.lock``,
``fcntl.flock``): a checkpoint never runs while a commit does, which is what the race needs. A
commit takes the lock once (two system calls), and waits for a checkpoint in progress. With a
fixed SQLite no lock is taken. Where ``fcntl`` is missing (Windows) there is no guard.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["WalGuard", "has_wal_reset_bug"]

SUFFIX = "-memoryd.lock"


def has_wal_reset_bug(version: tuple[int, int, int] = sqlite3.sqlite_version_info) -> bool:
    """Whether this SQLite has the WAL-reset race (3.7.0 up to 3.51.2, but the 3.44.6+ and
    3.50.7+ backports)."""
    if version >= (3, 51, 3):
        return False
    return not ((3, 50, 7) <= version < (3, 51, 0) or (3, 44, 6) <= version < (3, 45, 0))


class WalGuard:
    """The lock of one database file. :meth:`held` takes it for a commit or a checkpoint; each
    thread that takes it has a descriptor of its own (a flock held through one descriptor does not
    keep out another thread of the same process using it)."""

    def __init__(self, db_path: Path, *, enabled: bool | None = None) -> None:
        self.path = Path(f"{db_path}{SUFFIX}")
        self.enabled = (has_wal_reset_bug() if enabled is None else enabled) and fcntl is not None
        self._local = threading.local()
        self._fds: list[int] = []
        self._lock = threading.Lock()

    def _fd(self) -> int:
        fd: int | None = getattr(self._local, "fd", None)
        if fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._local.fd = fd
            with self._lock:
                self._fds.append(fd)
        return fd

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the block (at once when the guard is off)."""
        if not self.enabled:
            yield
            return
        fd = self._fd()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close every descriptor opened (the lock file stays: another process may hold it)."""
        with self._lock:
            fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)
