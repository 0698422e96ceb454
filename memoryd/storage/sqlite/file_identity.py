"""Whether the SQLite file memoryd writes is still the one at ``storage.path``.

An open connection keeps writing to a file that was deleted or replaced behind its back (a
clean-up script, a volume mounted over the folder, ``rm`` of the data folder to "start over"):
every commit succeeds, into a file nobody will open again, and a restart finds none of those
acknowledged writes. So the writer checks, before each commit, that the database file and its
WAL at their paths are still the ones it opened (device and inode: one ``stat`` each, a few
microseconds); a commit that would go nowhere is rolled back and refused, a 503 naming the fix,
and ``/health`` reports the store unavailable.
"""

from __future__ import annotations

import os
from pathlib import Path

from memoryd.errors import StorageError

__all__ = ["FileIdentity"]


class FileIdentity:
    """The (device, inode) of a database file and its WAL, as opened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._files = (path, Path(f"{path}-wal"))
        self._ids: dict[Path, tuple[int, int]] = {}

    def remember(self) -> None:
        """Note the files as they are now (once the writer has opened them, the WAL too)."""
        self._ids = {}
        for file in self._files:
            try:
                st = os.stat(file)
            except OSError:
                continue  # not there (yet): nothing to compare with
            self._ids[file] = (st.st_dev, st.st_ino)

    def check(self) -> None:
        """Raise :class:`StorageError` (503) unless every remembered file is still at its path."""
        for file, known in self._ids.items():
            try:
                st = os.stat(file)
            except OSError:
                what = "deleted"
            else:
                if (st.st_dev, st.st_ino) == known:
                    continue
                what = "replaced by another file"
            raise StorageError(
                f"the store's file {file} was {what} while memoryd had it open: a write now would go "
                "to a file no restart opens, so it is refused. Restart memoryd: it opens (or makes) "
                "the store at storage.path",
                field="storage.path",
            )
