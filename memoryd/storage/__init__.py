"""Where memories are stored: the storage roles and their composition.

:class:`Storage` bundles a record store, a vector index, a keyword index and a
graph store (chosen by name in the settings, through :mod:`memoryd.registry`)
and applies each write to all four — in one transaction when they share an engine.
"""

from __future__ import annotations

import uuid
from typing import Any

from memoryd.config import Settings
from memoryd.errors import ConflictError, StorageError
from memoryd.graph.models import GraphDiff
from memoryd.registry import available, resolve
from memoryd.storage.base import (
    ChangeSet,
    GraphStore,
    HistoryDraft,
    KeywordIndex,
    RecordStore,
    SegmentStore,
    StoredMemory,
    UsageRecord,
    UsageStore,
    VectorIndex,
)
from memoryd.storage.claims import ImportClaim
from memoryd.storage.events import ProbeStopped, is_probing, pending_events
from memoryd.storage.mismatch import moved_meanwhile
from memoryd.storage.resources import Resources

# The record store's meta key an import sets to its source while it loads, and empties once complete.
IMPORT_UNFINISHED = "import_unfinished"
# The same for an import into a store that held memories already: reported by `memoryd check`, but
# the store still opens (its owner keeps what it held).
IMPORT_PARTIAL = "import_partial"
# The record store's meta key naming the store: an index in a shared engine records its owner.
STORE_ID = "store_id"


async def store_id(records: RecordStore) -> str:
    """The store's id (made at its first open): a Qdrant collection, Milvus collection or
    PostgreSQL table records the store it indexes, and refuses another one."""
    return await records.get_meta(STORE_ID) or await records.setdefault_meta(STORE_ID, str(uuid.uuid4()))

__all__ = [
    "IMPORT_PARTIAL",
    "IMPORT_UNFINISHED",
    "STORE_ID",
    "ChangeSet",
    "GraphStore",
    "HistoryDraft",
    "KeywordIndex",
    "RecordStore",
    "SegmentStore",
    "Storage",
    "StoredMemory",
    "UsageRecord",
    "UsageStore",
    "VectorIndex",
    "build_storage",
    "store_id",
]


class Storage:
    """The four storage roles, opened, written and closed together."""

    def __init__(
        self,
        records: RecordStore,
        vectors: VectorIndex,
        keywords: KeywordIndex,
        graph: GraphStore,
        usage: UsageStore | None = None,
        segments: SegmentStore | None = None,
    ) -> None:
        self.records = records
        self.vectors = vectors
        self.keywords = keywords
        self.graph = graph
        self.usage = usage  # the chat gateway's usage counters, where the backend keeps them
        self.segments = segments  # the memory hierarchy (None: tiers off)
        self.model: tuple[str, int] | None = None  # the embedder (name, size) the indexes opened with
        self.opened = False  # the records opened, and not closed since (what background work asks)

    async def open(self, model: str, dim: int) -> None:
        await self._open_records()
        await self.open_indexes(model, dim)
        await self._open_others()

    async def open_without_indexes(self) -> None:
        """Every role but the keyword and vector indexes: what reads only the records, the graph
        and the hierarchy (an export without vectors) needs, so it works while an index is
        missing, unfinished or another model's. :meth:`open_indexes` opens them later."""
        await self._open_records()
        await self._open_others()

    async def _open_records(self) -> None:
        await self.records.open()
        self.opened = True
        unfinished = await self.records.get_meta(IMPORT_UNFINISHED)
        if unfinished:  # a partial store must never pass for the whole one
            raise ConflictError(
                f"an import into this store did not finish (from {unfinished}): it holds only part of "
                "that file. Once that import no longer runs, `memoryd import --restart` with that file and "
                "these settings deletes what it made (this store, and its vector index or graph in "
                "another engine) and imports the file again",
                field="storage.path",
            )

    async def open_indexes(self, model: str, dim: int) -> None:
        """Open the keyword and vector indexes (for the embedder ``model`` of ``dim`` dimensions)."""
        await self.keywords.open()
        # An index in a shared engine is told which store opens it; the embedded one needs no id.
        store = await store_id(self.records) if self.vectors.outside_transaction else None
        await self.vectors.open(model, dim, store=store)
        self.model = (model, dim)
        await self.check_vectors()

    async def _open_others(self) -> None:
        await self.graph.open()
        if self.usage is not None:
            await self.usage.open()
        if self.segments is not None:
            await self.segments.open()

    async def check_vectors(self, memories: int | None = None) -> None:
        """A vector index in another engine answers, and holds vectors when the records hold
        memories (``memories`` of them; None: asked here); else :class:`StorageError` (503). The
        embedded index checks this itself when it opens; another engine's may be down, or wiped
        or replaced since."""
        recorded = await self.vectors.recorded()
        # Still the model it was opened with? A `memoryd reindex` run meanwhile by another process
        # moves an index in another engine as it does the embedded one.
        if recorded is not None and self.model is not None and recorded != self.model:
            raise moved_meanwhile(None, recorded, self.model)
        if recorded is not None or not self.vectors.outside_transaction:
            return
        if memories is None:
            memories = len(await self.records.entries(limit=1))
        if not memories:
            return
        raise StorageError(
            f"the vector index ({type(self.vectors).__name__}) holds no vectors while the store "
            "holds memories: rebuild it from the records with `memoryd reindex`",
            field="storage.vectors",
            repair="memoryd reindex",
        )

    async def close(self) -> None:
        """Close every role, each even when one before it fails (the first failure is raised once
        all are closed): a client left open would keep its engine's hold (Qdrant's local folder)."""
        failed: BaseException | None = None
        self.opened = False
        for role in (self.segments, self.usage, self.graph, self.vectors, self.keywords, self.records):
            if role is None:
                continue
            try:
                await role.close()
            except BaseException as exc:  # noqa: BLE001 - raised below, once the others are closed
                failed = failed or exc
        if failed is not None:
            raise failed

    async def mark_import(self, claim: ImportClaim | None) -> None:
        """Record ``claim`` (an import into this new store, running) with the vector index and the
        graph in another engine, or remove it (None); see :mod:`memoryd.storage.claims`."""
        for role in (self.vectors, self.graph):
            mark = getattr(role, "mark_import", None)  # only an index or graph in another engine
            if mark is not None:
                await mark(claim)

    async def commit(self, changes: ChangeSet) -> GraphDiff:
        """Apply one change set to every role; the record store (truth) goes first.

        A vector index outside the record store's transaction (Qdrant) is written last, once
        every other role's writes have run: only the commit itself is then left to fail. A graph
        store outside it (FalkorDB) stages its write as a ``before_commit`` step itself (so a
        direct ``graph.apply`` inside a transaction joins it too), after the vector index's: a
        graph that fails leaves nothing behind in SQLite, nor a graph ahead of the vectors. With
        both outside, the graph is first asked to answer: one that is down fails the write before
        the vector index has changed (only a failure between the two writes, as a crash, leaves
        the vectors ahead, which ``memoryd check`` reports and ``memoryd reindex`` repairs).

        Returns what the write did to the graph (mem0's ``relations`` of an add).
        """
        if is_probing():  # a dry run (the worker's prefetch): nothing is written
            raise ProbeStopped
        pending = pending_events()  # an async-pipeline event this write applies (storage/events.py)
        if pending is not None:
            changes.events = [*changes.events, *pending.events]
        if not changes:
            return GraphDiff()
        async with self.records.transaction():
            await self.records.apply(changes)
            await self.keywords.apply(changes)
            if self.vectors.outside_transaction:
                if self.graph.outside_transaction and changes.touches_graph:
                    self.records.before_commit(self.graph.ping)
                self.records.before_commit(lambda: self.vectors.apply(changes))
            else:  # before the segments: recounting one reads its turns' new vectors
                await self.vectors.apply(changes)
            outside = self.graph.outside_transaction
            diff = GraphDiff() if outside else await self.graph.apply(changes)
            if self.segments is not None:
                await self.segments.apply(changes)
            if outside:  # it stages a before_commit step of its own: the last one
                diff = await self.graph.apply(changes)
        if pending is not None:
            pending.recorded = True  # committed (or staged in the caller's transaction)
        return diff

    async def reset(self) -> None:
        async with self.records.transaction():
            await self.records.reset()
            await self.keywords.reset()
            if self.vectors.outside_transaction:  # last, as a commit writes it
                if self.graph.outside_transaction:  # a graph that is down fails the reset first
                    self.records.before_commit(self.graph.ping)
                self.records.before_commit(self.vectors.reset)
            else:
                await self.vectors.reset()
            await self.graph.reset()  # a graph outside the transaction stages its own step, after
            if self.usage is not None:
                await self.usage.reset()
            if self.segments is not None:
                await self.segments.reset()


def build_storage(settings: Settings) -> Storage:
    """Instantiate the configured backends (a missing extra fails here, by name)."""
    resources = Resources(settings)
    cfg = settings.storage
    parts: dict[str, Any] = {"records": resources.records()}
    roles = (("vectors", cfg.vectors), ("keywords", cfg.keywords), ("graph", cfg.graph))
    for role, name in roles:
        parts[role] = resolve(role, name).from_resources(resources)
    # Usage counters live with the record store, when its backend keeps them.
    usage = (
        resolve("usage", cfg.records).from_resources(resources)
        if any(e.name == cfg.records for e in available("usage"))
        else None
    )
    segments = resolve("segments", cfg.segments).from_resources(resources)
    return Storage(
        parts["records"], parts["vectors"], parts["keywords"], parts["graph"], usage, segments=segments
    )
