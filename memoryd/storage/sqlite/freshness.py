"""When a read-through cache may keep what it read.

A cache over SQLite rows forgets what an own commit touched and what another
process's commit touched (:mod:`memoryd.storage.sqlite.changes`). A read that
overlapped either is not kept: each reader takes the cache's version before it
reads and hands it back when it stores, and the store is refused if the
version moved.
"""

from __future__ import annotations

__all__ = ["Freshness"]


class Freshness:
    """The version readers must match. Not thread-safe by itself: the owning cache calls it
    under its own lock."""

    __slots__ = ("version",)

    def __init__(self) -> None:
        self.version = 0

    def bump(self) -> None:
        """A commit landed (or the cache was emptied): reads begun before it are not kept."""
        self.version += 1
