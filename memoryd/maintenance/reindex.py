"""``memoryd reindex``: rebuild the vector and keyword indexes from the record store.

For an index that is missing, damaged or half written (``memoryd check`` says
which), and to move a store to another embedding model: both indexes are
discarded, then every memory — current or superseded — is read from the record
store a batch at a time, oldest first, re-embedded with the configured model and
indexed again as ingestion would have (:class:`~memoryd.maintenance.rebuild.IndexBuilder`:
speaker, previous turn of the session); then the memory hierarchy's turn vectors and
segment centroids are recomputed from the new vectors, so a store moved to another
model never compares vectors of two models. Records, history and graph are only read.

With ``keywords_only`` only the keyword index is rebuilt: each memory's terms are made
again (:func:`~memoryd.maintenance.terms.rebuild_terms`), no model is loaded and the
vectors stay as they are, which repairs a keyword index that is missing or damaged in
seconds where re-embedding a store with a remote model would take long and cost money.

The vector index stays marked incomplete until the last batch is written, so an
interrupted reindex is refused at the next start (run it again). Stop writers
(the server, workers) while it runs: a memory changed meanwhile may keep an index
entry of its old text.

A :class:`ReindexState` passed in follows how far it got; read after a reindex stopped part
way (Ctrl-C), it says what state the store is in (:meth:`ReindexState.describe`): nothing
changed while the records are read and the model checked; from the moment an index is
discarded, how many memories are indexed again and whether searches work meanwhile (not
after a full reindex stopped: the store refuses to open until one finishes; after a
``keywords_only`` one they do, finding the memories not yet indexed by meaning only); once
both indexes are done, only the hierarchy's vectors may be left. Any of these is finished by
running the same reindex again: it starts over.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

from memoryd.config import Settings
from memoryd.embedders import Embedder
from memoryd.errors import ConflictError, StorageError
from memoryd.ingest.represent import INDEX_FORMAT, Represent
from memoryd.maintenance.check import DAMAGED
from memoryd.maintenance.rebuild import IndexBuilder, Progress, embed_with, identity, load_embedder
from memoryd.maintenance.terms import PHASE as TERMS_PHASE
from memoryd.maintenance.terms import rebuild_terms
from memoryd.models import Scope
from memoryd.storage import ChangeSet, RecordStore, Storage, build_storage, store_id

__all__ = ["ReindexState", "ReindexSummary", "reindex_store"]

PHASE = "reindexing"
CHECK_PHASE = "reading records"

# The stages of a reindex, in order (ReindexState.stage).
READING, REBUILDING, HIERARCHY, DONE = "reading", "rebuilding", "hierarchy", "done"


@dataclass
class ReindexState:
    """How far one reindex got (``stage``: reading → rebuilding → hierarchy → done; ``indexed``
    of ``total`` memories written again to the index being rebuilt: at least that many, as the
    write of the batch in hand when it stopped may still have gone in)."""

    keywords_only: bool = False
    stage: str = READING
    total: int = 0
    indexed: int = 0

    @property
    def searches(self) -> str:
        """How searches of the store do now: ``as before`` (nothing was changed), ``refused`` (the
        store does not open), ``keywords partial`` (some memories found by meaning only) or ``work``."""
        if self.stage == READING:
            return "as before"
        if self.stage == REBUILDING:
            return "keywords partial" if self.keywords_only else "refused"
        return "work"

    def describe(self) -> str:
        """The state of the store, for someone who stopped the reindex at this point."""
        if self.stage == READING:
            return (
                "nothing was changed (it was reading the records and checking the model): the store "
                "is as it was before"
            )
        if self.stage == REBUILDING and self.keywords_only:
            return (
                f"the keyword index was discarded and at least {self.indexed} of {self.total} memories "
                "are in it again: searches work as before, except that they find the others by meaning "
                "only, not by their words (`memoryd check` counts them); vectors, records, history and "
                "graph are untouched"
            )
        if self.stage == REBUILDING:
            return (
                f"both indexes were discarded and at least {self.indexed} of {self.total} memories are "
                "indexed again: the vector index is incomplete, so the store refuses to open until a reindex "
                "finishes (search, list, add, the server and `memoryd mcp` fail on it); records, "
                "history and graph are untouched"
            )
        if self.stage == HIERARCHY:
            return (
                f"both indexes are rebuilt ({self.total} memories; searches work), but the memory "
                "hierarchy's turn vectors and segment centroids were not yet recomputed from them"
            )
        return "the reindex had finished"

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "indexes": ["keywords"] if self.keywords_only else ["vectors", "keywords"],
            "indexed": self.indexed,
            "total": self.total,
            "searches": self.searches,
        }


@dataclass
class ReindexSummary:
    """What a reindex did."""

    path: str
    memories: int
    model: str
    dim: int
    elapsed_s: float
    indexes: tuple[str, ...] = ("vectors", "keywords")  # what was rebuilt

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["elapsed_s"] = round(self.elapsed_s, 3)
        return body


async def reindex_store(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    batch_size: int = 256,
    progress: Progress | None = None,
    keywords_only: bool = False,
    state: ReindexState | None = None,
) -> ReindexSummary:
    """Rebuild both indexes of the store at ``settings.storage.path`` with the configured embedder
    (or ``embedder``), ``batch_size`` memories per embedding call and commit; with
    ``keywords_only``, the keyword index alone, with no model. ``state`` follows how far it gets."""
    state = state if state is not None else ReindexState()
    state.keywords_only = keywords_only
    if keywords_only:
        return await _reindex_keywords(settings, embedder, batch_size, progress, state)
    started = time.perf_counter()
    model = embedder or load_embedder(settings)
    async with _read_through(settings, batch_size, progress) as (storage, total):
        state.total = total
        records = storage.records
        embed = embed_with(model)
        # and the model must answer, with vectors of its size: one that is down (a remote model)
        # or misconfigured (embedder.dim) stops the reindex here, with both indexes intact
        await embed(["memoryd reindex: the model answers"])
        # The graph (another engine's may be down or another store's) and the vector index first:
        # one in another engine may refuse (down, another store's, a local mode another process
        # holds) before it drops anything, and the keywords stay intact then.
        await storage.graph.open()
        store = None
        if storage.vectors.outside_transaction:
            store = await store_id(records)
            await storage.vectors.recorded()  # it answers (down, a local mode another process holds: here)
        state.stage = REBUILDING  # from here on the indexes may be discarded
        try:
            await storage.vectors.open(str(model.name), int(model.dim), rebuild=True, store=store)
        except ConflictError:  # another store's index, or another program's data: refused, never dropped
            state.stage = READING
            raise
        await storage.keywords.open(rebuild=True)
        if progress is not None:
            progress(PHASE, 0, total)
        builder = IndexBuilder(Represent(settings.index), embed)
        done = 0
        cursor: str | None = None
        while True:
            page, cursor = await records.scan(Scope(), after=cursor, limit=batch_size)
            if page:
                changes = ChangeSet(upserts=await builder.build(page))
                async with records.transaction():
                    await storage.keywords.apply(changes)
                    await storage.vectors.apply(changes)
                done += len(page)
                state.indexed = done
                if progress is not None:
                    progress(PHASE, len(page), total)
            if cursor is None:
                break
        await storage.vectors.rebuilt()
        await records.set_meta("index_format", INDEX_FORMAT)
        state.stage = HIERARCHY
        if storage.segments is not None:  # the hierarchy's vectors follow the index's
            await storage.segments.open()
            await storage.segments.revector(storage.vectors.vectors)
    state.stage = DONE
    return ReindexSummary(
        str(settings.storage.path), done, str(model.name), int(model.dim), time.perf_counter() - started
    )


async def _reindex_keywords(
    settings: Settings, embedder: Embedder | None, batch_size: int, progress: Progress | None,
    state: ReindexState,
) -> ReindexSummary:  # fmt: skip
    started = time.perf_counter()

    def counted(phase: str, advance: int, total: int | None) -> None:  # each page is written when told
        if phase == TERMS_PHASE:
            state.indexed += advance
        if progress is not None:
            progress(phase, advance, total)

    async with _read_through(settings, batch_size, progress) as (storage, total):
        state.total = total
        state.stage = REBUILDING
        await storage.keywords.open(rebuild=True)
        represent = Represent(settings.index)
        done = await rebuild_terms(storage, represent, batch_size=batch_size, progress=counted)
    state.stage = DONE
    model, dim = identity(settings, embedder)
    return ReindexSummary(
        str(settings.storage.path), done, model, dim, time.perf_counter() - started, ("keywords",)
    )


@asynccontextmanager
async def _read_through(
    settings: Settings, batch_size: int, progress: Progress | None
) -> AsyncIterator[tuple[Storage, int]]:
    """The store, its records open and every one of them read once (:func:`_readable`), with how
    many memories it holds; closed after the block."""
    storage = build_storage(settings)
    try:
        try:
            await storage.records.open()
            total = int((await storage.records.stats())["memories"])
            await _readable(storage.records, batch_size, total, progress)  # before anything is discarded
        except StorageError as exc:
            raise _records_damaged(exc, settings) from exc
        yield storage, total
    finally:
        await storage.close()


def _records_damaged(exc: StorageError, settings: Settings) -> StorageError:
    """The error of records that cannot be read because they are damaged (a malformed file, a row
    this memoryd cannot decode: the error's repair is ``memoryd check``), whose advice must not be
    the reindex itself: what it rebuilds from is what is damaged. Any other error is ``exc``."""
    if exc.details.get("repair") != "memoryd check":
        return exc
    driver = exc.__cause__
    said = f"SQLite error: {driver}" if isinstance(driver, sqlite3.Error) else exc.message
    return StorageError(
        f"memoryd reindex cannot read the records of {settings.storage.path}, which it rebuilds the "
        f"indexes from ({said}); both indexes are left as they were. {DAMAGED[0].upper()}{DAMAGED[1:]}; "
        "until then keep the file's -wal and -shm beside it (its latest writes may be there only)",
        field=exc.field,
        **{**exc.details, "repair": "memoryd export --skip-unreadable"},
    )


async def _readable(records: RecordStore, batch_size: int, total: int, progress: Progress | None) -> None:
    """Read every record once, so a record this memoryd cannot decode (a newer version's kind,
    damage) stops the reindex with its id while both indexes are still intact."""
    if progress is not None:
        progress(CHECK_PHASE, 0, total)
    cursor: str | None = None
    while True:
        page, cursor = await records.scan(Scope(), after=cursor, limit=batch_size)
        if progress is not None and page:
            progress(CHECK_PHASE, len(page), total)
        if cursor is None:
            return
