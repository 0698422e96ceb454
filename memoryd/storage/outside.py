"""What the vector indexes in another engine than the record store (Qdrant, Milvus) share:
the key of a memory's point, the reserved key of the model record, and paging their points
in memory-id order."""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Awaitable, Callable

from memoryd.errors import ConflictError
from memoryd.storage.portable import IndexEntry

__all__ = ["META_ID", "REPAIR", "Listing", "check_owner", "point_id"]

META_ID = "00000000-0000-0000-0000-000000000000"  # the point that records the embedding model
_IDS = uuid.UUID("6f1c7f2e-9d43-4c55-9a4e-3d0c1c5e8b21")  # namespace of keys derived from other ids
REPAIR = "rebuild it from the records with `memoryd reindex`"


def point_id(memory_id: str) -> str:
    """A memory's point: its id when that is a canonical UUID (memoryd's own ids are), else a
    UUID derived from it (an imported id of any form; never the model record's)."""
    try:
        if str(uuid.UUID(memory_id)) == memory_id and memory_id != META_ID:
            return memory_id
    except ValueError:
        pass
    return str(uuid.uuid5(_IDS, memory_id))


class Listing:
    """``entries()`` for an engine that lists its points in another order than memory ids: a
    walk (``after`` None) reads every point once and sorts them; its next pages come from that
    listing, until a write (:meth:`forget`) makes the next page read them again."""

    def __init__(self, read_all: Callable[[], Awaitable[list[IndexEntry]]]) -> None:
        self._read_all = read_all
        self._entries: list[IndexEntry] | None = None
        self._keys: list[str] = []

    def forget(self) -> None:
        self._entries = None

    async def page(self, after: str | None, limit: int) -> list[IndexEntry]:
        if self._entries is None or after is None:
            self._entries = sorted(await self._read_all(), key=lambda e: e.memory_id)
            self._keys = [e.memory_id for e in self._entries]
        start = bisect.bisect_right(self._keys, after) if after is not None else 0
        return self._entries[start : start + limit]


def check_owner(what: str, setting: str, recorded: object, store: str | None) -> None:
    """Refuse ``what`` (a collection or table) that records another store than ``store``: two
    stores writing one index would mix their vectors, and one's reset or reindex would wipe the
    other's. A record of no store (written before stores had ids) is taken over."""
    if store is None or recorded in (None, "", store):
        return
    raise ConflictError(
        f"{what} holds the vectors of another memoryd store (id {recorded}; this one is {store}): "
        f"give each store its own with {setting}",
        field=setting,
    )
