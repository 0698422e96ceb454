"""When a read-through cache may keep what it read.

A cache over SQLite rows is emptied when the database epoch moves (another
process wrote) and forgets what an own commit touched. A read that overlapped
either is not kept: each reader takes the cache's version before it reads and
hands it back when it stores, and the store is refused if the version moved.
"""

from __future__ import annotations

__all__ = ["Freshness"]


class Freshness:
    """The epoch a cache's entries were read at and the version readers must match.

    Not thread-safe by itself: the owning cache calls it under its own lock.
    """

    __slots__ = ("epoch", "version")

    def __init__(self) -> None:
        self.epoch = -1
        self.version = 0

    def moved(self, epoch: int) -> bool:
        """Whether the database moved on since the last call (then the cache must empty)."""
        if epoch == self.epoch:
            return False
        self.epoch = epoch
        self.version += 1
        return True

    def bump(self) -> None:
        """An own commit landed (or the cache was emptied): reads begun before it are not kept."""
        self.version += 1
