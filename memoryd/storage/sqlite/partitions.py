"""In-memory partitions of the SQLite indexes, one per scope value, kept fresh.

Searching one user (or agent, or run) loads that scope's rows from SQLite
once into a partition — a vector matrix or a BM25 inverted index — and every
later commit is applied to the loaded partitions it touches. A commit that
lands while a partition is loading is replayed onto it, so a partition never
misses a write. Partitions are evicted least-recently-used beyond a byte budget.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from memoryd.models import MemoryRecord, Scope

__all__ = ["FIELDS", "Partition", "PartitionCache", "PartitionKey", "partition_key"]

FIELDS = ("user_id", "agent_id", "run_id")
PartitionKey = tuple[str, str]
Change = tuple[Sequence[tuple[MemoryRecord, Any]], Sequence[str]]


class Partition(Protocol):
    @property
    def nbytes(self) -> int: ...

    def put(self, memory: MemoryRecord, payload: Any) -> None:
        """Insert or refresh a memory; ``payload`` None keeps the indexed content."""
        ...

    def drop(self, memory_id: str) -> None: ...


P = TypeVar("P", bound=Partition)


def partition_key(scope: Scope) -> PartitionKey:
    """The partition a query reads: its most specific scope field."""
    for field in ("run_id", "agent_id", "user_id"):
        value = getattr(scope, field)
        if value is not None:
            return (field, value)
    raise ValueError("empty scope")


class PartitionCache(Generic[P]):
    """Loaded partitions by key, refreshed by commits, evicted LRU by size."""

    def __init__(
        self,
        load: Callable[[PartitionKey], Awaitable[P]],
        budget_bytes: int,
        epoch: Callable[[], int] = lambda: 0,
    ) -> None:
        self._load = load
        self._epoch = epoch
        self._built_at = 0
        self._budget = budget_bytes
        self._parts: OrderedDict[PartitionKey, P] = OrderedDict()
        self._sizes: dict[PartitionKey, int] = {}  # measured when loaded (growth since is small)
        self._total = 0
        self._loading: dict[int, list[Change]] = {}
        self._cleared = 0  # clear() calls: a load that a clear overtook is not kept
        self.lock = threading.RLock()

    async def get(self, key: PartitionKey) -> P:
        now = self._epoch()
        if now != self._built_at:  # another process wrote: rows may have changed under us
            self.clear()
            self._built_at = now
        with self.lock:
            part = self._parts.get(key)
            if part is not None:
                self._parts.move_to_end(key)
                return part
            pending: list[Change] = []
            self._loading[id(pending)] = pending
            cleared = self._cleared
        try:
            part = await self._load(key)
        finally:
            with self.lock:
                del self._loading[id(pending)]
        with self.lock:
            existing = self._parts.get(key)
            if existing is not None:
                return existing
            if self._cleared != cleared:  # a reset or another process's write came during the load:
                return part  # what it read may predate that; it serves this call and is not kept
            field, value = key
            for upserts, deletes in pending:  # commits that raced with the load
                for memory, payload in upserts:
                    if getattr(memory, field) == value:
                        part.put(memory, payload)
                for memory_id in deletes:
                    part.drop(memory_id)
            self._parts[key] = part
            self._sizes[key] = part.nbytes
            self._total += self._sizes[key]
            self._evict()
        return part

    def refresh(self, upserts: Sequence[tuple[MemoryRecord, Any]], deletes: Sequence[str]) -> None:
        """Apply one committed change set to every loaded partition it touches."""
        with self.lock:
            for pending in self._loading.values():
                pending.append((upserts, deletes))
            for memory, payload in upserts:
                for field in FIELDS:
                    value = getattr(memory, field)
                    part = self._parts.get((field, value)) if value is not None else None
                    if part is not None:
                        part.put(memory, payload)
            if deletes:
                for part in self._parts.values():
                    for memory_id in deletes:
                        part.drop(memory_id)

    def clear(self) -> None:
        with self.lock:
            self._cleared += 1
            self._parts.clear()
            self._sizes.clear()
            self._total = 0

    def _evict(self) -> None:
        while self._total > self._budget and len(self._parts) > 1:
            key, _ = self._parts.popitem(last=False)
            self._total -= self._sizes.pop(key)
