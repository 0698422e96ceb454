"""In-memory partitions of the SQLite indexes, one per scope value, kept fresh.

Searching one user (or agent, or run) loads that scope's rows from SQLite
once into a partition — a vector matrix or a BM25 inverted index — and every
later commit is applied to the loaded partitions it touches. A commit that
lands while a partition is loading is replayed onto it, so a partition never
misses a write. Another process's commit drops the partitions of the scope
values it touched (:mod:`memoryd.storage.sqlite.changes`), and a load it
overtook is not kept. Partitions are evicted least-recently-used beyond a
byte budget.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from memoryd.models import MemoryRecord, Scope
from memoryd.storage.sqlite import changes as change_log
from memoryd.storage.sqlite.changes import Changed, Watcher

__all__ = ["FIELDS", "ChangeFeed", "Partition", "PartitionCache", "PartitionKey", "partition_key"]

FIELDS = ("user_id", "agent_id", "run_id")
PartitionKey = tuple[str, str]
Change = tuple[Sequence[tuple[MemoryRecord, Any]], Sequence[str]]


class ChangeFeed(Protocol):
    """What other processes changed (:class:`memoryd.storage.sqlite.database.SQLiteDatabase`)."""

    def watch(self, watcher: Watcher) -> None: ...

    def catch_up(self) -> None: ...


@dataclasses.dataclass
class _Load:
    key: PartitionKey
    pending: list[Change] = dataclasses.field(default_factory=list)  # own commits that raced with it
    spoiled: bool = False  # a reset, or another process's write to its scope, came meanwhile


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
        changes: ChangeFeed | None = None,
    ) -> None:
        self._load = load
        self._changes = changes
        self._budget = budget_bytes
        self._parts: OrderedDict[PartitionKey, P] = OrderedDict()
        self._sizes: dict[PartitionKey, int] = {}  # measured when loaded (growth since is small)
        self._digests: dict[PartitionKey, str] = {}  # how the change log names each
        self._total = 0
        self._loading: dict[int, _Load] = {}
        self.loads = 0  # partitions read from the file, for tests and statistics
        self.lock = threading.RLock()
        if changes is not None:
            changes.watch(self.foreign)

    async def get(self, key: PartitionKey) -> P:
        if self._changes is not None:
            self._changes.catch_up()  # drops what another process changed
        with self.lock:
            part = self._parts.get(key)
            if part is not None:
                self._parts.move_to_end(key)
                return part
            loading = _Load(key)
            self._loading[id(loading)] = loading
            self.loads += 1
        try:
            part = await self._load(key)
        finally:
            with self.lock:
                del self._loading[id(loading)]
        with self.lock:
            existing = self._parts.get(key)
            if existing is not None:
                return existing
            if loading.spoiled:  # what it read may predate a reset or another process's write:
                return part  # it serves this call and is not kept
            field, value = key
            for upserts, deletes in loading.pending:  # commits that raced with the load
                for memory, payload in upserts:
                    if getattr(memory, field) == value:
                        part.put(memory, payload)
                for memory_id in deletes:
                    part.drop(memory_id)
            self._parts[key] = part
            self._sizes[key] = part.nbytes
            self._digests[key] = change_log.key(*key)
            self._total += self._sizes[key]
            self._evict()
        return part

    def refresh(self, upserts: Sequence[tuple[MemoryRecord, Any]], deletes: Sequence[str]) -> None:
        """Apply one committed change set to every loaded partition it touches."""
        with self.lock:
            for loading in self._loading.values():
                loading.pending.append((upserts, deletes))
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

    def foreign(self, changed: Changed) -> None:
        """Another process committed: drop the partitions of the scope values it touched (all
        of them for None), and keep no load of theirs that was under way."""
        if changed is None:
            self.clear()
            return
        with self.lock:
            for loading in self._loading.values():
                if change_log.key(*loading.key) in changed:
                    loading.spoiled = True
            for key in [k for k, digest in self._digests.items() if digest in changed]:
                self._forget(key)

    def clear(self) -> None:
        with self.lock:
            for loading in self._loading.values():
                loading.spoiled = True
            self._parts.clear()
            self._sizes.clear()
            self._digests.clear()
            self._total = 0

    def _evict(self) -> None:
        while self._total > self._budget and len(self._parts) > 1:
            self._forget(next(iter(self._parts)))

    def _forget(self, key: PartitionKey) -> None:
        del self._parts[key]
        del self._digests[key]
        self._total -= self._sizes.pop(key)
