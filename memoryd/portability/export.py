"""``memoryd export``: a store, or one user of it, as a JSONL file (:mod:`memoryd.portability.format`).

Streaming: memories, history, entities, relations and the memory hierarchy's
segments and turns are read ``page_size`` at a time through the storage roles'
scans and written line by line, so memory use does not grow with the store. On
the embedded store every page is read from one snapshot (one read transaction:
others may go on writing meanwhile; a vector index or graph in another engine is
read as it is at that moment: see below). The heat this process counted but has not written yet is
written first, so the segments go out as :meth:`AsyncMemory.tree` shows them.
Written to a path, the file appears only once complete (a temporary file is
renamed at the end), readable by its owner only (``0600``, in new folders ``0700``: it holds
every memory, as the store does); a path that cannot be written (a directory, no permission)
is an :class:`~memoryd.errors.InvalidInputError` naming it, and nothing is left behind.

A memory this memoryd cannot read (a newer version's kind, a damaged time: ``memoryd check``
lists them) stops the export, which says so, unless ``skip_unreadable``: the export then
writes everything else and lists their ids in the summary, so that the readable part of a
damaged store can still be moved to a new one. Their history, their turns in the memory
hierarchy and their assertions in the graph are left out with them, as if they had been deleted:
a relation only they asserted goes, and a segment that held their turns counts only those left
(in a new store these would be the damage the import refuses: history of a memory that neither
exists nor was deleted, a turn of no memory, a relation asserted by no memory, a segment counting
turns it does not hold). All stay in the old store.

A graph in another engine (``storage.graph = "falkordb"``) cannot join the snapshot: it is read
after the memories, as it is then, and the file is made to look as if taken at the snapshot as
nearly as that engine allows, so that the import (which refuses a relation asserted by a memory
the file does not hold) accepts it:

- A memory written after the snapshot is not in the file, but its graph assertions may be in the
  graph (so may those of a write whose records never committed: FalkorDB's crash window). They are
  left out as an unreadable memory's are, by the same code: its mentions go from the relations it
  shares, and a relation only such memories assert goes. Which memories a page of relations names
  the snapshot holds is asked of the snapshot, one page at a time (nothing kept per memory).
- Entities such a write made are kept, with none of its relations, as are names (aliases) it gave
  an entity: the import accepts an entity nothing refers to, and ``memoryd check`` does not
  report one.
- A memory deleted after the snapshot is in the file, but the graph had already forgotten what it
  asserted: relations only it asserted are missing (and entities left with nothing, unless they
  were read before it went), and relations it shared name only their other memories.
- A relation whose every asserting memory is in the file but which ended or changed after the
  snapshot (its memories superseded or ended, closed by a contradiction, current again) is as it
  was read: ended, with its mentions' ends, though the memories in the file may be current. The
  import accepts it, as the graph itself holds relations closed while their memories stay current.
- The graph's own pages are not one state either: a write between them that merges two entities
  (an alias) may move names or relations between pages already read and pages still to come.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, TextIO, TypeVar

from memoryd.errors import InvalidInputError, StorageError
from memoryd.hierarchy.models import Segment
from memoryd.ingest.represent import INDEX_FORMAT
from memoryd.maintenance.rebuild import Progress, identity
from memoryd.memory import AsyncMemory
from memoryd.models import Scope, utcnow
from memoryd.portability.format import (
    dumps,
    end_doc,
    entity_doc,
    header_doc,
    history_doc,
    memory_doc,
    relation_doc,
    tier_segment_doc,
    tier_turn_doc,
)
from memoryd.storage import HistoryDraft, SegmentStore
from memoryd.storage.base import StoredTurn
from memoryd.storage.portable import RelationRow

__all__ = ["ExportSummary", "export_store"]

R = TypeVar("R")
Adjust = Callable[[list[R]], Awaitable[list[R]]]  # a page of rows as written: changed, or left out
Named = TypeVar("Named", HistoryDraft, StoredTurn)  # a row naming one memory


@dataclass
class ExportSummary:
    """What an export wrote: lines per type, where, how long."""

    path: str | None
    counts: dict[str, int] = field(default_factory=dict)
    vectors: bool = True
    elapsed_s: float = 0.0
    unreadable: list[str] = field(default_factory=list)  # memories left out (skip_unreadable)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "counts": dict(self.counts),
            "vectors": self.vectors,
            "elapsed_s": round(self.elapsed_s, 3),
            "unreadable": list(self.unreadable),
        }


async def export_store(
    mem: AsyncMemory,
    dest: Path | TextIO,
    *,
    user_id: str | None = None,
    vectors: bool = True,
    page_size: int = 500,
    progress: Progress | None = None,
    skip_unreadable: bool = False,
) -> ExportSummary:
    """Write the store's memories, history, graph and memory hierarchy (only ``user_id``'s when
    given) to ``dest``, a path or an open text stream. ``vectors`` also writes each memory's
    stored vector and keyword terms, each segment's centroid and each short-term turn's vector,
    so an import into a store with the same embedder needs no embedding. ``skip_unreadable``:
    leave out the memories this memoryd cannot read, listed in the summary (see the module doc)."""
    started = time.perf_counter()
    summary = ExportSummary(str(dest) if isinstance(dest, Path) else None, vectors=vectors)
    job = _Job(mem, Scope(user_id=user_id), vectors, page_size, progress, summary, skip_unreadable)
    if isinstance(dest, Path):
        await _to_path(job, dest)
    else:
        try:
            await _write(job, dest)
            dest.flush()
        except OSError as exc:  # a full disk or a closed pipe behind stdout
            reason = exc.strerror or str(exc)
            raise InvalidInputError(f"cannot write the export: {reason}", field="path") from None
    summary.elapsed_s = time.perf_counter() - started
    return summary


@dataclass
class _Job:
    """One export's settings and the summary it fills."""

    mem: AsyncMemory
    scope: Scope
    vectors: bool
    page_size: int
    progress: Progress | None
    summary: ExportSummary
    skip_unreadable: bool


async def _to_path(job: _Job, path: Path) -> None:
    if path.is_dir():
        raise InvalidInputError(f"cannot export to {path}: it is a directory; give a file path", field="path")
    if _is_database(path, job.mem):
        raise InvalidInputError(
            f"cannot export to {path}: it is an SQLite database (a memoryd store or key file), which the "
            "export would replace; give another path",
            field="path",
        )
    created = [d for d in (path.parent, *path.parent.parents) if not d.exists()]
    partial = path.with_name(path.name + ".partial")
    try:
        for directory in reversed(created):  # the owner's only, as the store's own (README: Security)
            directory.mkdir(mode=0o700, exist_ok=True)
        partial.unlink(missing_ok=True)  # a crashed export's: made again, with the mode below
        fd = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with open(fd, "w", encoding="utf-8", newline="\n") as out:
            await _write(job, out)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InvalidInputError(f"cannot export to {path}: {reason}", field="path") from None
    finally:
        with suppress(OSError):  # under a file, say: there is nothing to remove
            partial.unlink(missing_ok=True)
        if not path.exists():  # nothing left behind: not even the directories made for it
            for directory in created:
                with suppress(OSError):
                    directory.rmdir()


_SQLITE_MAGIC = b"SQLite format 3\x00"
_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def _is_database(path: Path, mem: AsyncMemory) -> bool:
    """Whether ``path`` is this store's or the key store's file (or one of their SQLite side files),
    or any other SQLite database: renaming the export over it would destroy it."""
    if not path.exists():
        return False
    own = (mem.settings.storage.path, mem.settings.keys_path())
    for base in own:
        for suffix in _SIDE_FILES:
            other = Path(f"{base}{suffix}")
            with suppress(OSError):
                if other.exists() and path.samefile(other):
                    return True
    try:
        with path.open("rb") as head:
            return head.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False  # unreadable: writing it will fail and say so


async def _write(job: _Job, out: TextIO) -> None:
    mem, scope, vectors, page_size, progress = job.mem, job.scope, job.vectors, job.page_size, job.progress
    counts = job.summary.counts
    await _open(mem, vectors)
    await mem.tiers.flush()  # heat counted in memory goes out with its segments
    # One state of the store, however long the export takes while others write: else a memory
    # added between reading the memories and the history left history of no memory behind.
    snapshot = getattr(mem.storage.records, "snapshot", None)
    async with snapshot() if snapshot is not None else nullcontext():
        storage = mem.storage
        out.write(
            dumps(
                header_doc(
                    scope=None if scope.is_empty else scope,
                    embedder=identity(mem.settings, mem.loaded_embedder),
                    index_format=INDEX_FORMAT,
                    vectors=vectors,
                    exported_at=utcnow(),
                )
            )
            + "\n"
        )

        def tell(phase: str, advance: int, total: int | None = None) -> None:
            if progress is not None:
                progress(phase, advance, total)

        total = (await storage.records.page(scope, None, limit=1, offset=0, include_expired=True)).total
        tell("memories", 0, total)
        cursor: str | None = None
        while True:
            page, cursor = await _memories(job, cursor)
            ids = [m.id for m in page]
            vecs = await storage.vectors.vectors(ids) if vectors and ids else {}
            terms = await storage.keywords.terms(ids) if vectors and ids else {}
            for m in page:
                out.write(dumps(memory_doc(m, vecs.get(m.id), terms.get(m.id))) + "\n")
            counts["memory"] = counts.get("memory", 0) + len(page)
            tell("memories", len(page), total)
            if cursor is None:
                break
        copy = partial(_copy, out, scope, page_size, tell=tell)
        left_out = set(job.summary.unreadable)
        others = _each(partial(_not_theirs, left_out)) if left_out else None
        counts["history"] = await copy("history", storage.records.scan_history, history_doc, adjust=others)
        counts["entity"] = await copy("entity", storage.graph.scan_entities, entity_doc)
        asserted = _assertions(job, left_out)
        scan_relations = storage.graph.scan_relations
        counts["relation"] = await copy("relation", scan_relations, relation_doc, adjust=asserted)
        counts["tier_segment"] = counts["tier_turn"] = 0
        if storage.segments is not None:  # the memory hierarchy, when the store keeps one
            tiers = storage.segments
            docs = (tier_segment_doc, tier_turn_doc)
            segment_doc, turn_doc = (partial(doc, vectors=vectors) for doc in docs)
            lost = await _lost_turns(tiers, scope, page_size, left_out) if left_out else None
            held = _each(partial(_held, lost)) if lost else None
            counts["tier_segment"] = await copy("tier_segment", tiers.scan_segments, segment_doc, adjust=held)
            counts["tier_turn"] = await copy("tier_turn", tiers.scan_turns, turn_doc, adjust=others)
        out.write(dumps(end_doc(counts)) + "\n")


async def _open(mem: AsyncMemory, vectors: bool) -> None:
    """The store; its keyword and vector indexes only if their vectors and terms are written:
    without them, an index that is missing or half rebuilt does not stop the export."""
    if not vectors:
        await mem.open_without_indexes()
        return
    try:
        await mem.open()
    except StorageError as exc:
        if exc.field not in ("storage.vectors", "storage.keywords"):
            raise
        raise StorageError(
            f"{exc.message}; or export the store without it: `memoryd export --no-vectors` (an import "
            "then embeds the memories again)",
            field=exc.field,
            **exc.details,
        ) from exc


async def _memories(job: _Job, after: str | None) -> tuple[list[Any], str | None]:
    """A page of memories; those this memoryd cannot read are listed and left out when asked."""
    scan = partial(job.mem.storage.records.scan, job.scope, after=after, limit=job.page_size)
    if job.skip_unreadable:
        return await scan(unreadable=job.summary.unreadable)
    try:
        return await scan()
    except StorageError as exc:
        raise StorageError(
            f"{exc.message}; `memoryd export --skip-unreadable` writes everything else and lists them",
            field=exc.field,
            **exc.details,
        ) from exc


async def _copy(
    out: TextIO,
    scope: Scope,
    page_size: int,
    phase: str,
    scan: Callable[..., Awaitable[tuple[list[R], str | None]]],
    doc: Callable[[R], dict[str, Any]],
    *,
    tell: Callable[[str, int], None],
    adjust: Adjust[R] | None = None,
) -> int:
    """Write every row a scan lists (a page as ``adjust`` makes it: rows changed or left out), a
    page at a time; returns how many."""
    written = 0
    cursor: str | None = None
    tell(phase, 0)
    while True:
        listed, cursor = await scan(scope, after=cursor, limit=page_size)
        rows = listed if adjust is None else await adjust(listed)
        for row in rows:
            out.write(dumps(doc(row)) + "\n")
        written += len(rows)
        tell(phase, len(listed))
        if cursor is None:
            return written


def _each(change: Callable[[R], R | None]) -> Adjust[R]:
    """A change of one row (None: left out) made to each row of a page."""

    async def page(rows: list[R]) -> list[R]:
        return [kept for row in rows if (kept := change(row)) is not None]

    return page


# -- what a memory left out (skip_unreadable, or written after the snapshot) takes with it ----
# In a new store, the rows naming it would be damage `memoryd check` reports: history of a memory
# that neither exists nor was deleted, a turn of no memory, a relation asserted by no memory, a
# segment counting a turn it no longer holds. They go, or change, as if it had been deleted.
def _not_theirs(left_out: set[str], row: Named) -> Named | None:
    """A history row or hierarchy turn, unless it is a memory's left out."""
    return None if row.memory_id in left_out else row


def _assertions(job: _Job, left_out: set[str]) -> Adjust[RelationRow] | None:
    """The relations as the file holds them: without the mentions of memories left out
    (``skip_unreadable``) and, when the graph is read outside the records' snapshot (another
    engine), of memories the snapshot does not hold (see the module doc). Which of a page's
    memories the snapshot holds is asked of the snapshot, a page at a time."""
    if not job.mem.storage.graph.outside_transaction:  # read in the snapshot, as the memories
        return _each(partial(_asserted, left_out)) if left_out else None
    held = partial(job.mem.storage.records.held, scope=job.scope)

    async def page(rows: list[RelationRow]) -> list[RelationRow]:
        named = list({m.memory_id for r in rows for m in r.mentions})
        gone = left_out | (set(named) - await held(named)) if named else left_out
        return [kept for r in rows if (kept := _asserted(gone, r)) is not None] if gone else rows

    return page


def _asserted(left_out: set[str], r: RelationRow) -> RelationRow | None:
    """A relation without the mentions of memories left out; none left: the relation goes. Its
    memory is then the first one still asserting it (as the graph does when one is deleted)."""
    mentions = tuple(m for m in r.mentions if m.memory_id not in left_out)
    if len(mentions) == len(r.mentions):
        return r
    if not mentions:
        return None
    first = r if r.memory_id not in left_out else mentions[0]
    return replace(r, mentions=mentions, memory_id=first.memory_id, run_id=first.run_id)


async def _lost_turns(tiers: SegmentStore, scope: Scope, page_size: int, left_out: set[str]) -> Counter[str]:
    """How many turns of memories left out each segment holds (a pass over the turns)."""
    lost: Counter[str] = Counter()
    cursor: str | None = None
    while True:
        rows, cursor = await tiers.scan_turns(scope, after=cursor, limit=page_size)
        lost.update(t.segment_id for t in rows if t.memory_id in left_out and t.segment_id is not None)
        if cursor is None:
            return lost


def _held(lost: Counter[str], s: Segment) -> Segment | None:
    """A segment counting only the turns it keeps (its keywords, label and centroid as they were);
    left with none, it goes."""
    if s.id not in lost:
        return s
    return replace(s, turns=s.turns - lost[s.id]) if s.turns > lost[s.id] else None
