"""The storage roles: one small Protocol each, and the change set they all apply.

- :class:`RecordStore` holds memories and their history: the source of truth.
- :class:`VectorIndex` finds memories by embedding similarity.
- :class:`KeywordIndex` finds memories by BM25 over index terms.
- :class:`GraphStore` keeps the entities and relations extracted from memories.
- :class:`SegmentStore` keeps the memory hierarchy: turns in tiers, segments, heat.

A write is a :class:`ChangeSet`; :class:`memoryd.storage.Storage` hands it to
each role. Backends that share one engine (the embedded SQLite file) join a
single transaction through :meth:`RecordStore.transaction`. No code outside a
backend module knows which backend it talks to.

Each role can also list what it holds, page by page, in the backend-neutral rows
of :mod:`memoryd.storage.portable` (``scan*``, ``entries``), and ``check`` itself;
export, import, ``memoryd check`` and ``memoryd reindex`` are built on these.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np

from memoryd.filters import Filter
from memoryd.graph.models import Entity, GraphDiff, Relation, RelationClose, RelationDraft
from memoryd.hierarchy.models import Segment, SessionInfo, ShortTerm, TierChanges, TierCounts, TurnRow
from memoryd.models import Event, HistoryEntry, MemoryRecord, Page, Scope
from memoryd.storage.events import AppliedEvent, AppliedRecord
from memoryd.storage.portable import EntityRow, IndexEntry, RelationRow

__all__ = [
    "ChangeSet",
    "GraphStore",
    "HistoryDraft",
    "KeywordIndex",
    "RecordStore",
    "SegmentStore",
    "StoredMemory",
    "StoredTurn",
    "UsageRecord",
    "UsageStore",
    "VectorIndex",
]


@dataclass(frozen=True, slots=True)
class StoredMemory:
    """A memory to write. ``vector``/``terms`` are ``None`` when the text did not
    change (e.g. only its validity closed), so indexes keep what they have.

    ``existing``: a change of a stored memory (closed, edited, a source added, re-indexed), never
    a new one: if another writer deleted it since it was read, the write fails whole
    (:class:`~memoryd.errors.StaleWriteError`, a 503 to retry) rather than bring it back."""

    memory: MemoryRecord
    vector: np.ndarray | None = None
    terms: Sequence[str] | None = None
    existing: bool = False


@dataclass(frozen=True, slots=True)
class StoredTurn:
    """One turn of the memory hierarchy as stored, listed for export and written back on import.

    ``owner`` is the owner's key (:func:`memoryd.hierarchy.models.owner_key`), ``user_id`` and
    ``agent_id`` its parts, ``run_id`` the turn's session. A short-term turn (``segment_id`` None)
    keeps its vector and keywords (``words``); a turn in a segment keeps its keywords only (its
    segment's are rebuilt from them when a turn leaves or changes), its vector None."""

    memory_id: str
    owner: str
    user_id: str | None
    agent_id: str | None
    run_id: str | None
    at: float
    level: int
    segment_id: str | None = None
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)
    words: tuple[str, ...] | None = None


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
    current asserts them as well. ``graph_reopen_memories``: ids of memories current
    again in this write (a home whose successor was deleted, see
    :func:`memoryd.ingest.timelines.reopen_profile`): their assertions hold again (until the
    memory's ``valid_to`` in ``upserts``, if it has one), and a relation that closed because
    every memory asserting it ended holds with them (current again, or ending at its last
    assertion's new end); one closed for another reason (``graph_close``) stays closed.
    ``deletes`` (hard delete) also removes the
    relations only those memories asserted, and entities left with none.
    ``tiers`` is what the write changes in the memory hierarchy (turns entering
    short-term or moving into segments, segments, deferred heat). ``events`` are the
    async pipeline's event ids whose add this write is: recorded with it, and a write
    naming one recorded already fails whole (:class:`~memoryd.errors.EventAppliedError`),
    so no event is applied twice, by two workers or by a worker after the synchronous path.
    """

    upserts: list[StoredMemory] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    history: list[HistoryDraft] = field(default_factory=list)
    graph_add: list[RelationDraft] = field(default_factory=list)
    graph_close: list[RelationClose] = field(default_factory=list)
    graph_close_memories: list[str] = field(default_factory=list)
    graph_reopen_memories: list[str] = field(default_factory=list)
    tiers: TierChanges | None = None
    events: list[AppliedEvent] = field(default_factory=list)

    @property
    def touches_graph(self) -> bool:
        """Whether the graph has anything to do (relations to add or close, memories ending, current
        again or gone)."""
        return bool(
            self.graph_add
            or self.graph_close
            or self.graph_close_memories
            or self.graph_reopen_memories
            or self.deletes
        )

    def __bool__(self) -> bool:
        return bool(
            self.tiers
            or self.events
            or self.upserts
            or self.deletes
            or self.history
            or self.graph_add
            or self.graph_close
            or self.graph_close_memories
            or self.graph_reopen_memories
        )


@runtime_checkable
class RecordStore(Protocol):
    """Memories and history, queried by id, scope and filter."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    def transaction(self) -> AbstractAsyncContextManager[None]: ...
    def before_commit(self, step: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Inside :meth:`transaction`: run ``step`` once the transaction's writes have all
        succeeded, just before it commits; a failure of ``step`` rolls the transaction back."""
        ...

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Inside :meth:`transaction`: run ``hook`` once the transaction has committed (not at
        all if it fails), before the transaction's block returns, maybe on another thread (keep
        it quick and thread-safe): what a ``before_commit`` step did becomes true only then."""
        ...

    async def apply(self, changes: ChangeSet) -> None: ...
    async def get_many(self, ids: Sequence[str], *, shared: bool = False) -> dict[str, MemoryRecord]:
        """The current or superseded memories with these ids (absent ones left out). ``shared``:
        the caller only reads them, so a backend may hand out records it keeps cached (their
        metadata included) instead of copies."""
        ...

    async def held(self, ids: Sequence[str], scope: Scope | None = None) -> set[str]:
        """Which of these memories (current or not, of ``scope`` when given) the store holds, read
        from the store itself and never from a cache: in a snapshot, as of the snapshot."""
        ...

    async def applied(self, event_ids: Sequence[str]) -> dict[str, str]:
        """The digest recorded for each of these pipeline event ids a committed write applied
        (:attr:`ChangeSet.events`); ids not recorded are left out."""
        ...

    async def applied_records(self, event_ids: Sequence[str]) -> dict[str, AppliedRecord]:
        """As :meth:`applied`, with when each was applied."""
        ...

    async def find_duplicates(
        self, scope: Scope, hashes: Sequence[str]
    ) -> dict[tuple[str, str | None, str | None], str]:
        """Map (hash, role, actor) to the id of a current memory with exactly this scope whose
        hash is one of ``hashes``: every speaker's (two people saying the same words are two
        turns)."""
        ...

    async def with_hashes(self, scope: Scope, hashes: Sequence[str]) -> list[str]:
        """Ids of the memories of ``scope`` (the parts it names, as :meth:`select_ids` reads it)
        whose hash is one of ``hashes``, current or ended: an exact lookup through the hash's
        index, however many memories the scope holds (fast mode's tastes on one thing)."""
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
    async def neighbours(
        self, scope: Scope, where: Filter | None, memory_id: str
    ) -> tuple[MemoryRecord | None, MemoryRecord | None]:
        """The current memories of ``scope`` matching ``where`` just before and just after memory
        ``memory_id`` in stored order (the order :meth:`latest` reads backwards): a turn's neighbours."""
        ...

    async def latest(self, scope: Scope, where: Filter | None, *, limit: int) -> list[MemoryRecord]:
        """The newest ``limit`` current memories of ``scope`` matching ``where``, newest first (a
        :meth:`page` without its count: a session's last turns)."""
        ...

    async def select_ids(
        self,
        scope: Scope,
        where: Filter | None,
        *,
        as_of: datetime | None = None,
        include_expired: bool = False,
        cap: int = 1_000_000,
    ) -> list[str]:
        """Ids of the memories of ``scope`` matching ``where``, in no set order; when more than
        ``cap`` match, the ``cap`` most recently updated."""
        ...

    async def history(self, memory_id: str, scope: Scope | None = None) -> list[HistoryEntry]:
        """Changes of one memory, oldest first; with a scope, only if it owned the memory."""
        ...

    async def mark_erased(self, user_id: str | None, at: datetime, queue_ms: int | None = None) -> None:
        """Record that ``user_id`` (``None``: every user, a reset, which keeps this mark) was erased
        at ``at``: a write applying an async-pipeline event of that user (``None``: any event) made
        no later is refused from now on (:class:`EventErasedError`). With
        ``queue_ms`` (the deletion's mark on the event queue's clock, placed before ``at``), an
        event the queue took is compared with that mark instead, on the queue's clock: one it took
        after the mark is a new event, however late ``at`` came."""
        ...

    async def mark_deleted_scope(self, scope: Scope, at: datetime) -> None:
        """Record that ``delete_all`` deleted ``scope``'s memories at ``at``: a write applying an
        async-pipeline event of a scope it holds (its ids include ``scope``'s) made no later is
        refused from now on (:class:`EventErasedError`), as for an erased user."""
        ...

    async def purge_history(self, scope: Scope, memory_ids: Sequence[str] = ()) -> int:
        """Erase the history rows of ``scope`` (by their scope fields) and of the memories
        ``memory_ids`` (forgetting a user); returns how many rows went."""
        ...

    async def forget_changes(self) -> None:
        """Drop what the store keeps of recent writes for other processes' caches (it names the
        scope values they touched): the last step of forgetting a user. Those caches then
        start over."""
        ...

    async def erase_traces(self) -> bool:
        """Leave no older copy of deleted content in the store's files (a write-ahead log's
        earlier page versions, say): the very last step of forgetting a user or of a reset.
        False when some could not be removed yet (said in the log)."""
        ...

    async def stats(self) -> dict[str, Any]: ...
    async def get_meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str) -> None: ...
    async def setdefault_meta(self, key: str, value: str) -> str:
        """``key``'s value; set to ``value`` first if it has none, atomically (two processes
        opening one store at once get the same answer)."""
        ...

    async def reset(self) -> None: ...
    async def scan(
        self,
        scope: Scope,
        *,
        after: str | None = None,
        limit: int = 1000,
        unreadable: list[str] | None = None,
    ) -> tuple[list[MemoryRecord], str | None]:
        """Every memory of ``scope`` (an empty scope: the whole store), current or not, a page at
        a time, oldest first: in order of creation, ties in the order written. Pass the returned
        cursor as ``after`` for the next page; it is None after the last one. A row this memoryd
        cannot read (a newer version's kind, a damaged time) is a :class:`StorageError`, unless
        ``unreadable`` is given: its id is then appended there and the row left out."""
        ...

    async def scan_history(
        self, scope: Scope, *, after: str | None = None, limit: int = 1000
    ) -> tuple[list[HistoryDraft], str | None]:
        """Every history row of ``scope`` (its ``scope`` fields; empty: all), in the order
        written, as drafts that would write it again; paged like :meth:`scan`."""
        ...

    async def last_history_id(self) -> int:
        """The id of the last history row written (0: none); every later row's id is greater."""
        ...

    async def entries(self, *, after: str | None = None, limit: int = 1000) -> list[IndexEntry]:
        """Every memory's id, scope and validity, in memory-id order, after id ``after``."""
        ...

    async def check(self) -> list[str]:
        """Problems the store finds in itself (the engine's own integrity check, history rows
        of memories that neither exist nor were deleted); empty when sound."""
        ...


@runtime_checkable
class VectorIndex(Protocol):
    """Nearest-neighbour search over unit vectors, restricted to a scope.

    ``outside_transaction``: the index lives in another engine than the record store, so it
    cannot join its transaction; :meth:`memoryd.storage.Storage.commit` then writes it last,
    through :meth:`RecordStore.before_commit`."""

    outside_transaction: bool

    async def open(self, model: str, dim: int, *, rebuild: bool = False, store: str | None = None) -> None:
        """Open the index for ``model``; refuse if it holds another model's vectors, or if it is
        missing or half rebuilt while the store holds memories (naming ``memoryd reindex``).

        ``rebuild=True`` discards whatever the index holds and opens it empty for ``model``,
        marked incomplete until :meth:`rebuilt`. ``store`` (:func:`memoryd.storage.store_id`):
        an index in an engine several stores can share records it, and refuses to open (or
        rebuild) for another store."""
        ...

    async def rebuilt(self) -> None:
        """Mark a rebuild complete: every memory's vector has been written again."""
        ...

    async def recorded(self) -> tuple[str, int] | None:
        """The model and vector size the stored vectors were made with (None: no vectors yet),
        read without opening the index: a store can open with it while its model is down."""
        ...

    async def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these memories (absent ids are left out)."""
        ...

    async def entries(self, *, after: str | None = None, limit: int = 1000) -> list[IndexEntry]:
        """What the index holds for each memory, in memory-id order (see RecordStore.entries)."""
        ...

    async def check(self) -> list[str]:
        """Problems in the stored vectors themselves (wrong size, not finite, not unit length)."""
        ...

    async def close(self) -> None: ...
    async def apply(self, changes: ChangeSet) -> None: ...
    async def search(
        self,
        vector: np.ndarray,
        *,
        scope: Scope,
        limit: int,
        allowed: set[str] | None = None,
        also: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        """Best ``limit`` (id, cosine) pairs among current memories of ``scope``
        (or exactly the ids in ``allowed``, current or not, when given), best first; then the
        cosines of the ids in ``also`` that meet the same conditions but are not among the
        best, best first (a hybrid search scores its keyword candidates in the same pass)."""
        ...

    async def reset(self) -> None: ...


@runtime_checkable
class KeywordIndex(Protocol):
    """BM25 over pre-tokenised index terms, restricted to a scope."""

    async def open(self, *, rebuild: bool = False) -> None:
        """Open the index; ``rebuild=True`` discards whatever it holds first."""
        ...

    async def close(self) -> None: ...
    async def apply(self, changes: ChangeSet) -> None: ...
    async def search(
        self, terms: Sequence[str], *, scope: Scope, limit: int, allowed: set[str] | None = None
    ) -> list[tuple[str, float]]:
        """Best ``limit`` (id, bm25) pairs, higher is better, same rules as vectors."""
        ...

    async def reset(self) -> None: ...
    async def compact(self) -> None:
        """Physically drop what deleted memories left in the index (after forgetting a user)."""
        ...

    async def terms(self, ids: Sequence[str]) -> dict[str, list[str]]:
        """The stored index terms of these memories (absent ids are left out)."""
        ...

    async def entries(self, *, after: str | None = None, limit: int = 1000) -> list[IndexEntry]:
        """What the index holds for each memory, in memory-id order (see RecordStore.entries)."""
        ...

    async def check(self) -> list[str]:
        """Problems in the index itself (its engine's integrity check); empty when sound."""
        ...


@runtime_checkable
class GraphStore(Protocol):
    """Entities and typed relations with validity intervals, per owner.

    Reads (``entities``, ``neighbours``, ``relations``) take a scope as an agent reads
    memories: naming a user and an agent, the user's shared graph (no ``agent_id``) and
    that agent's own, never another agent's
    (:func:`memoryd.ingest.derived.agent_view`); naming a user alone, every owner of
    the user (shared and each agent's); otherwise the given ``user_id``/``agent_id`` must
    match the owner. A given ``run_id`` keeps only relations asserted in that session (and
    entities touching one). The scans list exactly the owners matching the scope's values.
    Names are matched after :func:`memoryd.graph.normalise_name` and through aliases.
    Results are current relations unless ``as_of`` (what was true then) or
    ``include_expired`` is given.

    ``outside_transaction``: the graph lives in another engine than the record store. Its
    writes (``apply``, ``reset``, ``restore``, ``delete_entities``) then join the record store's
    open transaction as a :meth:`RecordStore.before_commit` step themselves, or run in one of
    their own, and :meth:`memoryd.storage.Storage.commit` applies it last. ``ping`` raises
    :class:`~memoryd.errors.StorageError` unless its engine answers (a no-op inside the record
    store): a write asks it before another outside engine (the vector index) changes.
    """

    outside_transaction: bool

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def apply(self, changes: ChangeSet) -> GraphDiff:
        """Apply the graph parts of ``changes``, in this order: hard deletes,
        ``graph_close``, ``graph_add``, ``graph_close_memories``, ``graph_reopen_memories``.

        A relation a reopened memory makes current again while another edge with the same
        source, relation and target is current is folded into that one (its mentions move
        there, as when two entities merge): never two current edges.

        Returns the diff of the write (a relation current again is among its
        ``added``). Inside a shared transaction the returned object is filled in
        when the transaction commits (empty if it fails), so read it after
        :meth:`memoryd.storage.Storage.commit`, which returns it.
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
    async def scan_entities(
        self, scope: Scope, *, after: str | None = None, limit: int = 1000
    ) -> tuple[list[EntityRow], str | None]:
        """Every entity owned within ``scope`` (its user/agent; empty: all), oldest first, as
        stored; paged like :meth:`RecordStore.scan`."""
        ...

    async def scan_relations(
        self, scope: Scope, *, after: str | None = None, limit: int = 1000
    ) -> tuple[list[RelationRow], str | None]:
        """Every relation within ``scope``, current or not, oldest first, with its mentions."""
        ...

    async def restore(self, entities: Sequence[EntityRow], relations: Sequence[RelationRow]) -> None:
        """Write rows listed by the scans back verbatim (ids kept; joins an open transaction).
        Entities come before the relations that name them; an id or name taken fails."""
        ...

    async def delete_entities(self, ids: Sequence[str], *, unused_only: bool = False) -> int:
        """Delete the entities of these ids (any owner; an id not held is skipped) with their names,
        every relation touching them and those relations' mentions, in one write (joins an open
        transaction); ``unused_only``: only those no relation touches. Unlike a hard delete of
        memories, it forgets rows by id, whoever asserted them. Returns how many entities went
        (0 when staged in an open transaction, which runs it at commit)."""
        ...

    async def memory_refs(self, *, after: str | None = None, limit: int = 1000) -> list[str]:
        """The distinct ids of memories that assert a relation, in id order, after ``after``."""
        ...

    async def check(self) -> list[str]:
        """Problems in the graph itself (dangling references, relations nobody asserts)."""
        ...


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """Chat-gateway usage of one user (``None``: calls without a user) on one UTC day, one model."""

    user_id: str | None
    day: str  # ISO date, UTC
    model: str
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    memory_tokens: int = 0  # tokens of the memory blocks injected into prompts
    memories: int = 0  # memories injected

    @property
    def key(self) -> tuple[str | None, str, str]:
        return (self.user_id, self.day, self.model)


@runtime_checkable
class UsageStore(Protocol):
    """Counters of the chat gateway's usage, per user, day and model (kept with the record store)."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def add(self, records: Sequence[UsageRecord]) -> None:
        """Add these counts to the stored ones (one transaction)."""
        ...

    async def query(
        self, user_id: str | None = None, *, all_users: bool = False, since: str | None = None,
        until: str | None = None,
    ) -> list[UsageRecord]:
        """Rows of one user (``all_users``: every user), days ``since``..``until`` inclusive."""
        ...

    async def delete_user(self, user_id: str) -> int: ...
    async def reset(self) -> None: ...


@runtime_checkable
class SegmentStore(Protocol):
    """The memory hierarchy: which tier each turn is in, the mid-term segments and their heat.

    Owners are exact (``user_id``, ``agent_id``; the ``run_id`` only when there is neither):
    see :func:`memoryd.ingest.derived.owner_scope`. Policy lives in :mod:`memoryd.hierarchy`;
    a backend only stores and reads.
    """

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def apply(self, changes: ChangeSet) -> None:
        """Write ``changes.tiers``; hard-deleted memories (``changes.deletes``) leave their segments."""
        ...

    async def short_term(
        self, owner: Scope, choose: Callable[[list[SessionInfo]], dict[str | None, int]]
    ) -> ShortTerm:
        """In one read: the owner's sessions with short-term turns, the oldest ``n`` turns (with
        vectors) of each session for which ``choose(sessions)`` gives ``n``, and the segment of
        each of those sessions' latest mid-term turn. ``choose`` is pure policy
        (:func:`memoryd.hierarchy.planner.overflow`); the backend only runs it."""
        ...

    async def segments(self, owner: Scope, *, evicted: bool = False) -> list[Segment]: ...
    async def turns(
        self,
        *,
        owner: Scope | None = None,
        memory_ids: Sequence[str] | None = None,
        segment_id: str | None = None,
    ) -> list[TurnRow]: ...
    async def counts(self) -> list[TierCounts]: ...
    async def purge(self, scope: Scope) -> int:
        """Remove every turn and segment of ``scope``; returns how many rows went."""
        ...

    async def revector(
        self, vectors_of: Callable[[list[str]], Awaitable[dict[str, np.ndarray]]], *, chunk: int = 1000
    ) -> int:
        """After a reindex (perhaps onto another model): every stored turn vector replaced and
        every segment centroid recomputed from ``vectors_of(memory ids)``, the index's new
        vectors; a segment left with no vector is evicted. Returns the segments updated."""
        ...

    async def reset(self) -> None: ...
    async def scan_turns(
        self, scope: Scope, *, after: str | None = None, limit: int = 1000
    ) -> tuple[list[StoredTurn], str | None]:
        """Every turn whose ``user_id``/``agent_id``/``run_id`` match ``scope``'s (empty: all), in
        the order they entered the hierarchy, as stored; paged like :meth:`RecordStore.scan`."""
        ...

    async def scan_segments(
        self, scope: Scope, *, after: str | None = None, limit: int = 1000
    ) -> tuple[list[Segment], str | None]:
        """Every segment, mid-term or evicted, of the owners matching ``scope``'s ``user_id`` and
        ``agent_id`` (with a ``run_id``: only those holding a turn of that session), oldest first,
        as stored; paged like :meth:`RecordStore.scan`."""
        ...

    async def held(self, *, memory_ids: Sequence[str] = (), segment_ids: Sequence[str] = ()) -> set[str]:
        """Which of these turn (memory) ids and segment ids the store already holds."""
        ...

    async def check(self) -> list[str]:
        """Problems in the hierarchy's own rows (a turn in a segment that does not exist or is
        another owner's, a segment holding no turns or not as many as it counts, a short-term
        turn without its vector); empty when sound. Whether each turn's memory exists is
        checked against the record store by ``memoryd check``."""
        ...

    async def restore(self, turns: Sequence[StoredTurn], segments: Sequence[Segment]) -> None:
        """Write rows listed by the scans back verbatim, in the order given (ids, owners, levels,
        heat, tiers and times kept; joins an open transaction). An id already held fails. A
        short-term turn needs a vector and a segment a centroid: after a change of model, write
        empty ones and call :meth:`revector`."""
        ...

    async def delete_segments(self, ids: Sequence[str], *, empty_only: bool = False) -> int:
        """Delete the segments of these ids (mid-term or evicted; an id not held is skipped) with
        every turn in them (their tier rows; the memories stay), in one write (joins an open
        transaction); ``empty_only``: only those holding no turn. Returns how many segments went
        (0 when staged in an open transaction, which runs it at commit)."""
        ...
