"""In-memory partitions of the SQLite indexes, one per scope value, kept fresh.

Searching one user (or agent, or run) loads that scope's rows from SQLite
once into a partition — a vector matrix or a BM25 inverted index — and every
later commit is applied to the loaded partitions it touches. A commit that
lands while a partition is loading is replayed onto it, so a partition never
misses a write. Another process's commit is applied too: the partitions of
the scope values it touched re-read the rows of the memories it touched
(:mod:`memoryd.storage.sqlite.changes`; dropped when it touched too many to
list), and a load it overtook is not kept. Partitions are evicted
least-recently-used beyond a byte budget.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from memoryd.models import MemoryRecord, Scope
from memoryd.storage.sqlite import changes as change_log
from memoryd.storage.sqlite.changes import Foreign, Watcher

__all__ = ["FIELDS", "ChangeFeed", "Partition", "PartitionCache", "PartitionKey", "partition_key"]

FIELDS = ("user_id", "agent_id", "run_id")
PartitionKey = tuple[str, str]
Change = tuple[Sequence[tuple[MemoryRecord, Any]], Sequence[str]]
# The current rows of these memories ids, by id, as (row with scope and validity, payload): what
# :meth:`Partition.put` takes. A memory without a row is gone.
Reread = Callable[[sqlite3.Connection, Sequence[str]], dict[str, tuple[Any, Any]]]


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
        reread: Reread | None = None,
    ) -> None:
        self._load = load
        self._changes = changes
        self._reread = reread
        self._budget = budget_bytes
        self._parts: OrderedDict[PartitionKey, P] = OrderedDict()
        self._sizes: dict[PartitionKey, int] = {}  # measured when loaded or projected (growth since is small)
        self._digests: dict[PartitionKey, str] = {}  # how the change log names each
        self._total = 0
        self._loading: dict[int, _Load] = {}
        self.loads = 0  # partitions read from the file: what a reload costs shows here (tests count them)
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

    def foreign(self, changed: Foreign | None, conn: sqlite3.Connection) -> None:
        """Another process committed: the partitions of the scope values it touched re-read the
        memories it touched (or are dropped, when it did not list them), and no load of theirs
        under way is kept. None: everything is dropped."""
        if changed is None:
            self.clear()
            return
        with self.lock:  # an own commit's refresh waits: it lands after what is read here
            for loading in self._loading.values():
                if change_log.key(*loading.key) in changed.scopes:
                    loading.spoiled = True
            touched = [k for k, digest in self._digests.items() if digest in changed.scopes]
            if not touched:
                return
            ids = changed.memory_ids
            if ids is None or self._reread is None:
                for key in touched:
                    self._forget(key)
                return
            rows = self._reread(conn, sorted(ids))
            for key in touched:
                field, value = key
                part = self._parts[key]
                for memory_id in ids:
                    row = rows.get(memory_id)
                    if row is not None and getattr(row[0], field) == value:
                        part.put(*row)
                    else:  # gone, or no longer in this scope
                        part.drop(memory_id)

    def measure(self, part: P) -> None:
        """Measure a kept partition again (a vector projection was built for it since its load)
        and evict least-recently-used ones beyond the budget; one not kept, nothing."""
        with self.lock:
            key = next((k for k, kept in self._parts.items() if kept is part), None)
            if key is None:
                return
            self._total += part.nbytes - self._sizes[key]
            self._sizes[key] = part.nbytes
            self._evict()

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
