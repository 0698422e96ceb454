"""Keyword terms made again: how a store indexed by an older tokenizer is upgraded.

A store records the index format its keyword terms were made with
(:data:`memoryd.ingest.represent.INDEX_FORMAT`: the tokenizer, stemming, what a turn's
terms include). Terms of another format do not meet the query's: a word the new
tokenizer splits or folds differently is not found. Only the terms depend on the
format, so an older store is upgraded where it stands when it opens: every memory's
terms are computed again, a page at a time and oldest first, as ingestion makes them
(speaker and previous turn: :class:`~memoryd.maintenance.rebuild.IndexBuilder`
without a model) and written over the old ones. Vectors, records, history and graph
are untouched, and no model runs (measured: 25,600 memories in 2.3 s).

The new format is recorded after the last page, so an upgrade cut short runs again
at the next open; a memory written meanwhile by this release already has terms of the
new format. A store of a newer format (made by a newer memoryd) is refused. Upgrade
every process of a store together: one still running the older release keeps writing
terms of the older format, which the upgraded ones do not find.
"""

from __future__ import annotations

import logging
import time

from memoryd.errors import ConflictError
from memoryd.ingest.represent import INDEX_FORMAT, Represent
from memoryd.maintenance.rebuild import IndexBuilder, Progress
from memoryd.models import Scope
from memoryd.storage import ChangeSet, RecordStore, Storage

__all__ = ["NEWER", "PHASE", "ensure_index_format", "format_number", "rebuild_terms", "terms_format"]

PHASE = "keyword terms"
NEWER = "run the newer memoryd that made this store, or point storage.path at a new file"
_log = logging.getLogger(__name__)


def format_number(found: str | None) -> int:
    """The format a store recorded (none recorded: 1, the first, from before formats were)."""
    if found is None:
        return 1
    try:
        return int(found)
    except ValueError:
        return 1 << 30  # not a number this release wrote: a later one's


async def terms_format(records: RecordStore) -> str | None:
    """The index format of a store's keyword terms: the one it recorded; "1" when it holds
    memories but recorded none (made before formats were); None for an empty store."""
    found = await records.get_meta("index_format")
    if found is None and (await records.stats())["memories"]:
        return "1"
    return found


async def ensure_index_format(storage: Storage, represent: Represent, *, batch_size: int = 1000) -> None:
    """Make an open store's keyword terms this release's (:data:`INDEX_FORMAT`): record it on a
    new store, upgrade an older store's terms (:func:`rebuild_terms`), refuse a newer one's."""
    records = storage.records
    found = await terms_format(records)
    if found == INDEX_FORMAT:
        return
    if found is None:
        await records.set_meta("index_format", INDEX_FORMAT)
        return
    if format_number(found) > int(INDEX_FORMAT):
        raise ConflictError(
            f"this store was indexed with index format {found} by a newer memoryd; this release "
            f"reads format {INDEX_FORMAT}: run the newer memoryd, or start a new store (storage.path)",
            field="storage.path",
            repair=NEWER,
        )
    started = time.perf_counter()
    _log.warning(
        "upgrading the keyword terms of the store from index format %s to %s (vectors are kept); "
        "it opens when they are done",
        found,
        INDEX_FORMAT,
    )
    done = await rebuild_terms(storage, represent, batch_size=batch_size)
    _log.warning(
        "upgraded the keyword terms of %d memories to index format %s in %.1f s",
        done,
        INDEX_FORMAT,
        time.perf_counter() - started,
    )


async def rebuild_terms(
    storage: Storage, represent: Represent, *, batch_size: int = 1000, progress: Progress | None = None
) -> int:
    """Write every memory's keyword terms again as this release makes them, then record
    :data:`INDEX_FORMAT`; returns how many memories. The keyword index must be open."""
    records = storage.records
    if progress is not None:
        progress(PHASE, 0, int((await records.stats())["memories"]))
    builder = IndexBuilder(represent, None)
    done = 0
    cursor: str | None = None
    while True:
        page, cursor = await records.scan(Scope(), after=cursor, limit=batch_size)
        if page:
            await storage.keywords.apply(ChangeSet(upserts=await builder.build(page)))
            done += len(page)
            if progress is not None:
                progress(PHASE, len(page), None)
        if cursor is None:
            break
    await storage.keywords.compact()  # the old terms' rows are merged away, not left in segments
    await records.set_meta("index_format", INDEX_FORMAT)
    return done
