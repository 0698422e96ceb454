"""``memoryd export``: a store, or one user of it, as a JSONL file (:mod:`memoryd.portability.format`).

Streaming: memories, history, entities, relations and the memory hierarchy's
segments and turns are read ``page_size`` at a time through the storage roles'
scans and written line by line, so memory use does not grow with the store. On
the embedded store every page is read from one snapshot (one read transaction:
others may go on writing meanwhile; a vector index or graph in another engine is
read as it is at that moment: see below). The heat this process counted but has not written yet is
written first, so the segments go out as :meth:`AsyncMemory.tree` shows them.
Written to a path, the file appears only once complete (a temporary file is
renamed at the end; through a symbolic link, the file it names is replaced and the link kept),
readable by its owner only (``0600``, in new folders ``0700``: it holds every memory, as the
store does); a device or a pipe (``/dev/stdout``, ``>(gzip > x.gz)``) is written to as stdout
is; a path that cannot be written (a directory, no permission) is an
:class:`~memoryd.errors.InvalidInputError` naming it, and nothing is left behind.

A memory this memoryd cannot read (a newer version's kind, a damaged time: ``memoryd check``
lists them) stops the export, which says so, unless ``skip_unreadable``: the export then
writes everything else and lists their ids in the summary, so that the readable part of a
damaged store can still be moved to a new one. Their history, their turns in the memory
hierarchy and their assertions in the graph are left out with them, as if they had been deleted:
a relation only they asserted goes, and a segment that held their turns counts only those left.
Rows naming what the store no longer holds (history or a turn of a memory whose row is gone, a
relation naming an entity that is gone) are damage too, treated alike: they stop the export, or
are left out and counted (:attr:`ExportSummary.left_out`). A memory's vector that is missing or
damaged is left out with its terms and counted, never refused: the import embeds the memory
again. What is written, and why the rest would not import, is :mod:`memoryd.portability.coherent`.
All stays in the old store.

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
from collections.abc import Awaitable, Callable
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TextIO, TypeVar

from memoryd.errors import InvalidInputError, StorageError
from memoryd.ingest.represent import INDEX_FORMAT
from memoryd.maintenance.rebuild import Progress, identity
from memoryd.memory import AsyncMemory
from memoryd.models import Scope, utcnow
from memoryd.portability.coherent import KINDS, Coherence, LeftOut, sound
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
from memoryd.wording import counted

__all__ = ["ExportSummary", "export_store"]

R = TypeVar("R")
Adjust = Callable[[list[R]], Awaitable[list[R]]]  # a page of rows as written: changed, or left out


@dataclass
class ExportSummary:
    """What an export wrote: lines per type, where, how long."""

    path: str | None
    counts: dict[str, int] = field(default_factory=dict)
    vectors: bool = True
    elapsed_s: float = 0.0
    unreadable: list[str] = field(default_factory=list)  # memories left out (skip_unreadable)
    left_out: dict[str, int] = field(default_factory=dict)  # rows left out per kind (coherent.KINDS)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "counts": dict(self.counts),
            "vectors": self.vectors,
            "elapsed_s": round(self.elapsed_s, 3),
            "unreadable": list(self.unreadable),
            "left_out": dict(self.left_out),
        }

    def notes(self) -> list[str]:
        """What was left out and why, one line each (empty when nothing was)."""
        said = []
        if self.unreadable:
            shown = ", ".join(self.unreadable[:5]) + (", …" if len(self.unreadable) > 5 else "")
            memories = counted(len(self.unreadable), "memory", "memories")
            said.append(f"left out {memories} this memoryd cannot read ({shown}; `memoryd check` says more)")
        rows = [_count(n, kind) for kind, n in self.left_out.items() if kind != "index"]
        if rows:
            said.append(
                f"left out {', '.join(rows)}: naming memories or entities the store no longer holds, or "
                "memories left out (damage `memoryd check` reports)"
            )
        if self.left_out.get("index"):
            said.append(
                f"wrote {_count(self.left_out['index'], 'index')} (missing or damaged in the index: the "
                "import embeds them again)"
            )
        return said


def _count(n: int, kind: str) -> str:
    return counted(n, *KINDS[kind])


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
    leave out the memories this memoryd cannot read, listed in the summary, and the rows naming
    what is gone, counted there, instead of stopping (see the module doc)."""
    started = time.perf_counter()
    summary = ExportSummary(str(dest) if isinstance(dest, Path) else None, vectors=vectors)
    left_out = LeftOut(skip_unreadable)
    job = _Job(mem, Scope(user_id=user_id), vectors, page_size, progress, summary, skip_unreadable, left_out)
    if isinstance(dest, Path):
        await _to_path(job, dest)
    else:
        await _to_stream(job, dest, "cannot write the export")
    summary.left_out = {kind: left_out.counts[kind] for kind in KINDS if left_out.counts[kind]}
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
    left_out: LeftOut


async def _to_path(job: _Job, path: Path) -> None:
    if path.is_dir():
        raise InvalidInputError(f"cannot export to {path}: it is a directory; give a file path", field="path")
    if path.exists() and not path.is_file():  # a device or a pipe (/dev/stdout, `>(gzip > x.gz)`, a FIFO)
        try:  # written to, never replaced by a file (nor read first: a pipe would block)
            handle = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InvalidInputError(f"cannot export to {path}: {exc.strerror or exc}", field="path") from None
        with handle:
            await _to_stream(job, handle, f"cannot export to {path}")
        return
    target = Path(os.path.realpath(path))  # through a symbolic link: its file is replaced, the link kept
    if _is_database(target, job.mem):
        raise InvalidInputError(
            f"cannot export to {path}: it is an SQLite database (a memoryd store or key file), which the "
            "export would replace; give another path",
            field="path",
        )
    created = [d for d in (target.parent, *target.parent.parents) if not d.exists()]
    partial = target.with_name(target.name + ".partial")
    try:
        for directory in reversed(created):  # the owner's only, as the store's own (README: Security)
            directory.mkdir(mode=0o700, exist_ok=True)
        partial.unlink(missing_ok=True)  # a crashed export's: made again, with the mode below
        fd = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with open(fd, "w", encoding="utf-8", newline="\n") as out:
            await _write(job, out)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(target)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InvalidInputError(f"cannot export to {path}: {reason}", field="path") from None
    finally:
        with suppress(OSError):  # under a file, say: there is nothing to remove
            partial.unlink(missing_ok=True)
        if not target.exists():  # nothing left behind: not even the directories made for it
            for directory in created:
                with suppress(OSError):
                    directory.rmdir()


async def _to_stream(job: _Job, out: TextIO, failed: str) -> None:
    """Write the export straight into ``out`` (stdout, a device, a pipe); ``failed`` begins the error."""
    try:
        await _write(job, out)
        out.flush()
    except BrokenPipeError:  # the reader left (`| head`): the CLI ends quietly, exit 1, as for any output
        raise
    except OSError as exc:  # a full disk, a closed stdout
        raise InvalidInputError(f"{failed}: {exc.strerror or exc}", field="path") from None


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
        embedder = identity(mem.settings, mem.loaded_embedder)
        dim = embedder[1]
        fit = Coherence(storage.records, scope, set(), job.left_out, storage.graph.outside_transaction)
        out.write(
            dumps(
                header_doc(
                    scope=None if scope.is_empty else scope,
                    embedder=embedder,
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
                vector, held = vecs.get(m.id), terms.get(m.id)
                if vectors and not (sound(vector, dim) and held is not None):  # the import embeds it again
                    vector = held = None
                    job.left_out.note("index")
                out.write(dumps(memory_doc(m, vector, held)) + "\n")
            counts["memory"] = counts.get("memory", 0) + len(page)
            tell("memories", len(page), total)
            if cursor is None:
                break
        copy = partial(_copy, out, scope, page_size, tell=tell)
        fit.left_out.update(job.summary.unreadable)
        records, graph = storage.records, storage.graph
        counts["history"] = await copy("history", records.scan_history, history_doc, adjust=fit.history)
        counts["entity"] = await copy("entity", graph.scan_entities, entity_doc, adjust=fit.entities_written)
        counts["relation"] = await copy("relation", graph.scan_relations, relation_doc, adjust=fit.relations)
        counts["tier_segment"] = counts["tier_turn"] = 0
        if storage.segments is not None:  # the memory hierarchy, when the store keeps one
            tiers = storage.segments
            docs = (tier_segment_doc, tier_turn_doc)
            segment_doc, turn_doc = (partial(doc, vectors=vectors) for doc in docs)
            await fit.survey_turns(tiers, page_size)
            segments = await copy("tier_segment", tiers.scan_segments, segment_doc, adjust=fit.segments)
            counts["tier_segment"] = segments
            counts["tier_turn"] = await copy("tier_turn", tiers.scan_turns, turn_doc, adjust=fit.turns)
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
