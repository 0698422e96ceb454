"""The storage roles: one small Protocol each, and the change set they all apply.

- :class:`RecordStore` holds memories and their history: the source of truth.
- :class:`VectorIndex` finds memories by embedding similarity.
- :class:`KeywordIndex` finds memories by BM25 over index terms.
- :class:`GraphStore` keeps the entities and relations extracted from memories.

A write is a :class:`ChangeSet`; :class:`memoryd.storage.Storage` hands it to
each role. Backends that share one engine (the embedded SQLite file) join a
single transaction through :meth:`RecordStore.transaction`. No code outside a
backend module knows which backend it talks to.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np

from memoryd.filters import Filter
from memoryd.graph.models import Entity, GraphDiff, Relation, RelationClose, RelationDraft
from memoryd.models import Event, HistoryEntry, MemoryRecord, Page, Scope

__all__ = [
    "ChangeSet",
    "GraphStore",
    "HistoryDraft",
    "KeywordIndex",
    "RecordStore",
    "StoredMemory",
    "VectorIndex",
]


@dataclass(frozen=True, slots=True)
class StoredMemory:
    """A memory to write. ``vector``/``terms`` are ``None`` when the text did not
    change (e.g. only its validity closed), so indexes keep what they have."""

    memory: MemoryRecord
    vector: np.ndarray | None = None
    terms: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class HistoryDraft:
    memory_id: str
    event: Event
    old_text: str | None
    new_text: str | None
    actor: str
    created_at: datetime
    details: dict[str, Any] = field(default_factory=dict)
    scope: Scope = field(default_factory=Scope)  # whose memory it was: scoped history reads

    @classmethod
    def of(
        cls,
        memory: MemoryRecord,
        event: Event,
        old: str | None,
        new: str | None,
        actor: str,
        now: datetime,
        **details: Any,
    ) -> HistoryDraft:
        """The history row of one change to ``memory`` (its id and scope)."""
        return cls(memory.id, event, old, new, actor, now, details, memory.scope)


@dataclass(slots=True)
class ChangeSet:
    """Everything one logical write changes, applied atomically where the engine allows.

    The graph parts: ``graph_add`` relations to add (by entity name),
    ``graph_close`` relations whose validity ends, and ``graph_close_memories``
    ids of memories whose validity ends in this write (superseded or DELETEd
    facts): the current relations they asserted close too (at the memory's
    ``valid_to`` from ``upserts``, else the commit time), unless a memory still
    current asserts them as well. ``deletes`` (hard delete) also removes the
    relations only those memories asserted, and entities left with none.
    """

    upserts: list[StoredMemory] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    history: list[HistoryDraft] = field(default_factory=list)
    graph_add: list[RelationDraft] = field(default_factory=list)
    graph_close: list[RelationClose] = field(default_factory=list)
    graph_close_memories: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.upserts
            or self.deletes
            or self.history
            or self.graph_add
            or self.graph_close
            or self.graph_close_memories
        )


@runtime_checkable
class RecordStore(Protocol):
    """Memories and history, queried by id, scope and filter."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    def transaction(self) -> AbstractAsyncContextManager[None]: ...
    async def apply(self, changes: ChangeSet) -> None: ...
    async def get_many(self, ids: Sequence[str]) -> dict[str, MemoryRecord]: ...
    async def find_duplicates(self, scope: Scope, hashes: Sequence[str]) -> dict[tuple[str, str | None], str]:
        """Map (hash, role) to the id of a current memory with exactly this scope."""
        ...

    async def page(
        self,
        scope: Scope,
        where: Filter | None,
        *,
        limit: int,
        offset: int,
        as_of: datetime | None = None,
        include_expired: bool = False,
    ) -> Page: ...
    async def select_ids(
        self,
        scope: Scope,
        where: Filter | None,
        *,
        as_of: datetime | None = None,
        include_expired: bool = False,
        cap: int = 1_000_000,
    ) -> list[str]: ...
    async def history(self, memory_id: str, scope: Scope | None = None) -> list[HistoryEntry]:
        """Changes of one memory, oldest first; with a scope, only if it owned the memory."""
        ...

    async def stats(self) -> dict[str, Any]: ...
    async def get_meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str) -> None: ...
    async def reset(self) -> None: ...


@runtime_checkable
class VectorIndex(Protocol):
    """Nearest-neighbour search over unit vectors, restricted to a scope."""

    async def open(self, model: str, dim: int) -> None:
        """Open the index for ``model``; refuse if it holds another model's vectors."""
        ...

    async def close(self) -> None: ...
    async def apply(self, changes: ChangeSet) -> None: ...
    async def search(
        self, vector: np.ndarray, *, scope: Scope, limit: int, allowed: set[str] | None = None
    ) -> list[tuple[str, float]]:
        """Best ``limit`` (id, cosine) pairs among current memories of ``scope``
        (or exactly the ids in ``allowed``, current or not, when given)."""
        ...

    async def reset(self) -> None: ...


@runtime_checkable
class KeywordIndex(Protocol):
    """BM25 over pre-tokenised index terms, restricted to a scope."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def apply(self, changes: ChangeSet) -> None: ...
    async def search(
        self, terms: Sequence[str], *, scope: Scope, limit: int, allowed: set[str] | None = None
    ) -> list[tuple[str, float]]:
        """Best ``limit`` (id, bm25) pairs, higher is better, same rules as vectors."""
        ...

    async def reset(self) -> None: ...


@runtime_checkable
class GraphStore(Protocol):
    """Entities and typed relations with validity intervals, per owner.

    Reads take a scope with :meth:`memoryd.models.Scope.contains` semantics: the
    given ``user_id``/``agent_id`` must match the entity's owner, and a given
    ``run_id`` keeps only relations asserted in that session (and entities
    touching one). Names are matched after :func:`memoryd.graph.normalise_name`
    and through aliases. Results are current relations unless ``as_of`` (what
    was true then) or ``include_expired`` is given.
    """

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def apply(self, changes: ChangeSet) -> GraphDiff:
        """Apply the graph parts of ``changes``, in this order: hard deletes,
        ``graph_close``, ``graph_add``, ``graph_close_memories``.

        Returns the diff of the write. Inside a shared transaction the returned
        object is filled in when the transaction commits (empty if it fails), so
        read it after :meth:`memoryd.storage.Storage.commit`, which returns it.
        """
        ...

    async def entities(
        self, scope: Scope, *, names: Sequence[str] | None = None, limit: int = 100
    ) -> list[Entity]: ...
    async def neighbours(
        self,
        scope: Scope,
        names: Sequence[str],
        *,
        hops: int = 1,
        limit: int = 50,
        as_of: datetime | None = None,
        include_expired: bool = False,
    ) -> list[Relation]:
        """Relations touching the named entities (``hops=2``: and those one step
        further), nearest first, newest first within a hop."""
        ...

    async def relations(
        self,
        scope: Scope,
        *,
        limit: int = 100,
        offset: int = 0,
        as_of: datetime | None = None,
        include_expired: bool = False,
    ) -> list[Relation]:
        """A page of the scope's relations, newest first."""
        ...

    async def reset(self) -> None: ...
