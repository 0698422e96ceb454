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
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

from memoryd.config import Settings
from memoryd.embedders import Embedder
from memoryd.ingest.represent import INDEX_FORMAT, Represent
from memoryd.maintenance.rebuild import IndexBuilder, Progress, embed_with, identity, load_embedder
from memoryd.maintenance.terms import rebuild_terms
from memoryd.models import Scope
from memoryd.storage import ChangeSet, RecordStore, Storage, build_storage, store_id

__all__ = ["ReindexSummary", "reindex_store"]

PHASE = "reindexing"
CHECK_PHASE = "reading records"


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
) -> ReindexSummary:
    """Rebuild both indexes of the store at ``settings.storage.path`` with the configured embedder
    (or ``embedder``), ``batch_size`` memories per embedding call and commit; with
    ``keywords_only``, the keyword index alone, with no model."""
    if keywords_only:
        return await _reindex_keywords(settings, embedder, batch_size, progress)
    started = time.perf_counter()
    model = embedder or load_embedder(settings)
    async with _read_through(settings, batch_size, progress) as (storage, total):
        records = storage.records
        embed = embed_with(model)
        # and the model must answer, with vectors of its size: one that is down (a remote model)
        # or misconfigured (embedder.dim) stops the reindex here, with both indexes intact
        await embed(["memoryd reindex: the model answers"])
        # The graph (another engine's may be down or another store's) and the vector index first:
        # one in another engine may refuse (down, another store's, a local mode another process
        # holds) before it drops anything, and the keywords stay intact then.
        await storage.graph.open()
        store = await store_id(records) if storage.vectors.outside_transaction else None
        await storage.vectors.open(str(model.name), int(model.dim), rebuild=True, store=store)
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
                if progress is not None:
                    progress(PHASE, len(page), total)
            if cursor is None:
                break
        await storage.vectors.rebuilt()
        await records.set_meta("index_format", INDEX_FORMAT)
        if storage.segments is not None:  # the hierarchy's vectors follow the index's
            await storage.segments.open()
            await storage.segments.revector(storage.vectors.vectors)
    return ReindexSummary(
        str(settings.storage.path), done, str(model.name), int(model.dim), time.perf_counter() - started
    )


async def _reindex_keywords(
    settings: Settings, embedder: Embedder | None, batch_size: int, progress: Progress | None
) -> ReindexSummary:
    started = time.perf_counter()
    async with _read_through(settings, batch_size, progress) as (storage, _):
        await storage.keywords.open(rebuild=True)
        represent = Represent(settings.index)
        done = await rebuild_terms(storage, represent, batch_size=batch_size, progress=progress)
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
        await storage.records.open()
        total = int((await storage.records.stats())["memories"])
        await _readable(storage.records, batch_size, total, progress)  # before anything is discarded
        yield storage, total
    finally:
        await storage.close()


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
