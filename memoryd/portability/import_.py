"""``memoryd import``: load an export (:mod:`memoryd.portability.format`) into a store, ids kept.

Two streaming passes over the file, neither holding more than a batch of rows (the survey keeps
an id of each memory, entity and segment of the file, not its rows):

1. **Survey**: every line is parsed and validated, the ``end`` line's counts are
   compared with what was read (a truncated file is refused), every reference of a
   line (a history row's memory, a relation's entities and memories, a hierarchy
   turn's memory and segment) must name what the file holds
   (:mod:`~memoryd.portability.references`: else the store would import damaged), and the target is
   checked for conflicts: none of the file's memory ids may exist there, no
   owner of the file's graph may have entities there (names would collide), and
   none of the file's hierarchy turns or segment ids may be there. History rows the
   store holds already (a memory deleted there since the export, restored) are not written
   twice, and a restored memory's history gets an ``ADD`` by ``import`` saying so.
   Nothing is written when any of this fails, nor while another file's import into
   this store is unfinished. With ``restart``, what an unfinished import of this file into a
   store that held memories wrote is removed first, and only that
   (:mod:`~memoryd.portability.undo`).
2. **Load**: memories in batches of ``batch_size`` (record, vector and keyword
   terms in one transaction), then history, entities, relations, the hierarchy's
   segments and turns, each batch one commit. A new (empty) store is marked
   unfinished meanwhile: one whose import was interrupted (a crash, ``kill -9``)
   refuses to open, naming the file, rather than pass for a complete restore.

A memory's stored vector is reused when the file has one and the target's embedder
(name and dimension) is the header's, and its terms too when the index format is;
terms of another format are made again (no model runs); otherwise, or when its text is not
the one its hash was made from (edited in the file by hand: it gets its text's hash), the memory
is embedded again with the target's model, the way ``memoryd reindex`` does (speaker,
previous turn of its session). The hierarchy
follows its memories: its segment centroids and short-term turn vectors are
reused in the same case, and otherwise recomputed from the memories' new vectors
once everything is loaded (:meth:`~memoryd.storage.SegmentStore.revector`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import time
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from memoryd.errors import ConflictError, InvalidInputError
from memoryd.hierarchy.models import Segment
from memoryd.ingest.represent import INDEX_FORMAT
from memoryd.maintenance.rebuild import IndexBuilder, Progress, embed_with, identity
from memoryd.memory import AsyncMemory
from memoryd.models import Event, Scope, content_hash, utcnow
from memoryd.portability.coherent import sound
from memoryd.portability.format import NO_VECTOR, TYPES, End, Header, Line, MemoryLine, parse_line
from memoryd.portability.references import References
from memoryd.portability.undo import IMPORT_FLOOR, undo_partial
from memoryd.storage import (
    IMPORT_PARTIAL,
    IMPORT_UNFINISHED,
    ChangeSet,
    HistoryDraft,
    SegmentStore,
    StoredMemory,
)
from memoryd.storage.base import StoredTurn
from memoryd.storage.claims import ImportClaim
from memoryd.storage.portable import EntityRow, Owner, RelationRow
from memoryd.wording import counted

__all__ = [
    "ImportState",
    "ImportSummary",
    "check_file",
    "import_store",
    "require_file",
    "restart_advice",
    "same_source",
]

SURVEY_BATCH = 1000
_KIND = {
    MemoryLine: "memory",
    HistoryDraft: "history",
    EntityRow: "entity",
    RelationRow: "relation",
    Segment: "tier_segment",
    StoredTurn: "tier_turn",
}


@dataclass
class ImportSummary:
    """What an import wrote, and whether it re-embedded."""

    path: str
    counts: dict[str, int] = field(default_factory=dict)
    reembedded: int = 0
    reused_vectors: bool = False
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "counts": dict(self.counts),
            "reembedded": self.reembedded,
            "reused_vectors": self.reused_vectors,
            "elapsed_s": round(self.elapsed_s, 3),
        }


@dataclass
class ImportState:
    """How far an import got, for a report when it is stopped (Ctrl-C): ``new``, whether it was
    filling a new store (one that held no memory); ``written``, the rows committed, per kind."""

    new: bool = False
    written: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TYPES, 0))


def _lines(path: Path) -> Iterator[tuple[int, Line]]:
    try:
        handle = path.open(encoding="utf-8-sig")  # a byte order mark an editor added is read past
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}", field="file") from None
    with handle:
        first, number = True, 0
        try:
            for number, text in enumerate(handle, 1):
                if not text.strip():
                    continue
                if first and '"header"' not in text:
                    message = f"line {number}: a memoryd export starts with its header"
                    if text.lstrip()[:1] in ("{", "[") and '"content"' in text:  # what `add --file` reads
                        add = f"memoryd add --file {path} -u USER"
                        message += f"; it holds messages: remember them with `{add}`"
                    raise InvalidInputError(message, field="file")
                first = False
                try:
                    line = parse_line(text, number)
                except InvalidInputError as exc:  # a copy cut short mid-line: say so, not what JSON lacks
                    if text.endswith("\n") or ": not JSON (" not in exc.message:
                        raise
                    raise _cut_short(path, number) from None
                yield number, line
        except UnicodeDecodeError as exc:  # decoded a buffer at a time: the byte offset, not the line
            if exc.reason == "unexpected end of data":  # cut short inside a character
                raise _cut_short(path, number + 1) from None
            raise InvalidInputError(
                f"{path} is not UTF-8 text (byte {exc.start} of a block): not a memoryd export", field="file"
            ) from None


def _cut_short(path: Path, number: int) -> InvalidInputError:
    message = f"{path} is truncated: line {number}, its last, is cut short (and it has no end line)"
    return InvalidInputError(message, field="file")


@dataclass
class _Survey:
    header: Header
    counts: dict[str, int]
    known: dict[str, set[tuple[str, str]]]  # a memory of the file -> its (event, time) rows the store holds


@dataclass
class _TierIds:
    """The hierarchy's ids read since the last check against the target (a batch at a time)."""

    store: SegmentStore | None
    turns: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)

    async def add(self, line: Segment | StoredTurn) -> None:
        if self.store is None:
            return  # a store without a memory hierarchy: its rows are left out
        if isinstance(line, Segment):
            self.segments.append(line.id)
        else:
            self.turns.append(line.memory_id)
        if len(self.turns) + len(self.segments) >= SURVEY_BATCH:
            await self.check()

    async def check(self) -> None:
        if self.store is None or not (self.turns or self.segments):
            return
        found = await self.store.held(memory_ids=self.turns, segment_ids=self.segments)
        if found:
            raise ConflictError(
                "the target store's memory hierarchy already holds turns or segments of this file "
                f"(e.g. {min(found)}); import into a new store (storage.path)",
                field="file",
            )
        self.turns.clear()
        self.segments.clear()


async def _survey(
    mem: AsyncMemory | None, path: Path, progress: Progress | None = None, *, unfinished: bool = False
) -> _Survey:
    """Pass 1 (see the module docstring); with no ``mem``, the file alone (no store is asked).
    ``progress`` is told of the lines checked, a batch at a time, and their total at the end.
    ``unfinished``: an import of this file into the store did not finish (what it wrote conflicts)."""
    header: Header | None = None
    end: End | None = None
    end_number = 0
    counts = dict.fromkeys(TYPES, 0)
    owners: set[Owner] = set()
    pending: dict[str, int] = {}  # memory id -> its line, until looked for in the store
    refs = References()  # a second line of one id, a reference to what the file does not hold
    history: dict[str, set[tuple[str, str]]] = {}  # memory id -> (event, time) of its history lines
    known: dict[str, set[tuple[str, str]]] = {}  # memories whose history the store holds some of

    async def held_before(batch: dict[str, set[tuple[str, str]]]) -> None:
        if mem is None:
            batch.clear()
            return
        # Its history is here: a memory deleted here, restored (even when none of the file's rows is),
        # or rows an unfinished import wrote that `--restart` kept (the memory's history from before it).
        for memory_id in batch:
            stored = await mem.storage.records.history(memory_id)
            held = {(h.event.value, h.created_at.isoformat()) for h in stored}
            if held:
                known[memory_id] = held
        batch.clear()

    tier_ids = _TierIds(mem.storage.segments if mem is not None else None)

    async def taken(ids: dict[str, int]) -> None:
        if mem is None:
            ids.clear()
            return
        found = await mem.storage.records.get_many(list(ids))
        if found:
            first = min(found)
            if unfinished:  # the same file again: what the interrupted import wrote is in the way
                raise ConflictError(
                    f"an import of {path} into this store did not finish: the store holds part of it (e.g. "
                    f"memory {first}); {restart_advice(path)}",
                    field="file",
                )
            raise ConflictError(
                f"line {ids[first]} of {path}: the target store already holds memories of this file (e.g. "
                f"{first}, a memory of {_whose(found[first].scope)}): it was imported into this store "
                "before, or the store is the one exported; import into a new store (storage.path), or "
                "delete those memories first",
                field="file",
            )
        ids.clear()

    checked = told = 0

    def tell(total: int | None = None) -> None:
        nonlocal told
        if progress is not None:
            progress("checking the file", checked - told, total)
        told = checked

    for number, line in _lines(path):
        checked += 1
        if checked - told >= SURVEY_BATCH:
            tell()
        if header is None:
            if not isinstance(line, Header):
                message = f"line {number}: a memoryd export starts with its header"
                raise InvalidInputError(message, field="file")
            header = line
            continue
        if end is not None:
            raise InvalidInputError(f"line {number}: nothing may follow the end line", field="file")
        if isinstance(line, Header):
            raise InvalidInputError(f"line {number}: a second header", field="file")
        if isinstance(line, End):
            end, end_number = line, number
            continue
        counts[_KIND[type(line)]] += 1
        if isinstance(line, MemoryLine):
            refs.memory(line, number)
            pending[line.record.id] = number
            if len(pending) >= SURVEY_BATCH:
                await taken(pending)
        elif isinstance(line, EntityRow):
            refs.entity(line, number)
            owners.add(line.owner)
        elif isinstance(line, RelationRow):
            refs.relation(line, number)
        elif isinstance(line, HistoryDraft):
            refs.history(line, number)
            history.setdefault(line.memory_id, set()).add((line.event.value, line.created_at.isoformat()))
            if len(history) >= SURVEY_BATCH:
                await held_before(history)
        elif isinstance(line, Segment):
            refs.segment(line, number)
            await tier_ids.add(line)
        elif isinstance(line, StoredTurn):
            refs.turn(line, number)
            await tier_ids.add(line)
    if header is None:
        raise InvalidInputError(f"{path} is empty: not a memoryd export", field="file")
    if end is None:
        raise InvalidInputError(f"{path} is truncated: it has no end line", field="file")
    if end.counts != counts:
        raise InvalidInputError(_miscounted(path, end_number, end.counts, counts), field="file")
    refs.finish()
    await taken(pending)
    await held_before(history)
    await tier_ids.check()
    tell(checked)
    if mem is None:
        return _Survey(header, counts, known)
    for owner in sorted(owners, key=repr):
        scope = Scope(owner[0], owner[1], None) if owner[0] or owner[1] else Scope(run_id=owner[2])
        rows, _ = await mem.storage.graph.scan_entities(scope, limit=1)
        if rows:
            raise ConflictError(
                f"the target store already has graph entities of {_whose(scope)}: import into a new "
                "store (storage.path), or delete that owner's memories first",
                field="file",
            )
    return _Survey(header, counts, known)


def _whose(scope: Scope) -> str:
    """Whose a memory or graph is, in words: "user 'ana', agent 'bot', session 's1'"."""
    words = {"user_id": "user", "agent_id": "agent", "run_id": "session"}
    return ", ".join(f"{words.get(name, name)} {value!r}" for name, value in scope.items())


def _miscounted(path: Path, number: int, said: dict[str, int], held: dict[str, int]) -> str:
    """The refusal of a file whose lines are not those its end line counts (cut, or edited by
    hand): each kind that differs, in words."""
    names = {  # kind: (one, many)
        "memory": ("memory", "memories"),
        "history": ("history row", "history rows"),
        "entity": ("entity", "entities"),
        "relation": ("relation", "relations"),
        "tier_segment": ("hierarchy segment", "hierarchy segments"),
        "tier_turn": ("hierarchy turn", "hierarchy turns"),
    }
    differ = "; ".join(
        f"counts {counted(said[kind], *names[kind])}, the file holds {held[kind]}"
        for kind in TYPES
        if said[kind] != held[kind]
    )
    if all(held[kind] <= said[kind] for kind in TYPES):
        what = "it is incomplete: lines are missing from it"
    elif all(held[kind] >= said[kind] for kind in TYPES):
        what = "lines were added to it"
    else:
        what = "it was edited"
    return (
        f"{path} does not match its end line: its end line (line {number}) {differ}; {what}. "
        "Import a whole, unedited export: export the store again"
    )


class _Loader:
    """Pass 2: batches of one row type, each written in one commit."""

    def __init__(
        self,
        mem: AsyncMemory,
        reuse: bool,
        batch_size: int,
        progress: Progress | None,
        known: dict[str, set[tuple[str, str]]],
        *,
        same_terms: bool = True,
        counts: dict[str, int] | None = None,
    ) -> None:
        self.mem = mem
        self.known = known
        self.reuse = reuse
        self.dim = identity(mem.settings, mem.loaded_embedder)[1]  # the header's, when reused
        # Terms of another index format: made again for every memory, in the file's order (a turn's
        # terms take its previous turn's), while the vectors are reused.
        self.terms = None if same_terms else IndexBuilder(mem.represent, None)
        self.batch_size = batch_size
        self.progress = progress
        # Embeds what cannot be reused, with the turns before it as ingestion did (the model is
        # loaded on first need); every memory passes through it, in order.
        self.builder = IndexBuilder(mem.represent, None)
        self.kind: str | None = None
        self.batch: list[Any] = []
        self.counts: dict[str, int] = dict.fromkeys(TYPES, 0) if counts is None else counts  # committed
        self.reembedded = 0
        self.revector = False  # hierarchy rows written without vectors of the target's model

    async def add(self, kind: str, row: Any) -> None:
        if kind != self.kind or len(self.batch) >= self.batch_size:
            await self.flush()
            self.kind = kind
        self.batch.append(row)

    async def flush(self) -> None:
        batch, kind = self.batch, self.kind
        if not batch or kind is None:
            return
        self.batch = []
        storage = self.mem.storage
        read = len(batch)  # the file's lines done, written or not (the progress counts every one)
        write: Awaitable[Any] | None = None
        if kind == "memory":
            batch = [_as_edited(m) for m in batch]
            now = utcnow()  # memories deleted here since the export: their history says they came back
            back = [
                HistoryDraft.of(m.record, Event.ADD, None, m.record.text, "import", now, reason="restored")
                for m in batch
                if m.record.id in self.known
            ]
            write = storage.commit(ChangeSet(upserts=await self._index(batch), history=back))
        elif kind == "history":
            batch = self._new_history(batch)
            write = storage.commit(ChangeSet(history=batch))
        elif kind == "entity":
            write = storage.graph.restore(batch, [])
        elif kind == "relation":
            write = storage.graph.restore([], batch)
        elif storage.segments is None:
            batch = []  # a store without a memory hierarchy: its rows are left out
        elif kind == "tier_segment":
            write = storage.segments.restore([], [self._segment(s) for s in batch])
        else:
            write = storage.segments.restore([self._turn(t) for t in batch], [])
        if write is not None:
            await self._written(kind, write, len(batch))
        if self.progress is not None:
            self.progress("importing", read, None)

    async def _written(self, kind: str, write: Awaitable[Any], rows: int) -> None:
        """Run one batch's write to its end and count its ``rows`` as written. Ctrl-C (the import's
        task cancelled) meanwhile waits for it: a write handed to the database's thread cannot be
        called back, so it is counted once it is in, and then the import stops."""
        task = asyncio.ensure_future(write)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait([task])
            if not task.cancelled() and task.exception() is None:
                self.counts[kind] += rows
            raise
        self.counts[kind] += rows

    def _new_history(self, batch: list[HistoryDraft]) -> list[HistoryDraft]:
        """The history rows the store does not hold yet (of a memory it held before: a restore,
        or a rerun of an import that failed after writing some; as the survey read them)."""
        def held(h: HistoryDraft) -> bool:
            return (h.event.value, h.created_at.isoformat()) in self.known.get(h.memory_id, ())

        return [h for h in batch if not held(h)]

    def _segment(self, s: Segment) -> Segment:
        """The segment as in the file; its centroid left empty (for revector) unless reusable."""
        if self.reuse and s.centroid.shape == (self.dim,) and np.isfinite(s.centroid).all():
            return s
        self.revector = True
        return replace(s, centroid=NO_VECTOR)

    def _turn(self, t: StoredTurn) -> StoredTurn:
        """The turn as in the file; its vector (a short-term turn has one) left empty for revector
        unless reusable."""
        has = t.vector is not None
        if (t.segment_id is None and not has) or (has and not (self.reuse and sound(t.vector, self.dim))):
            self.revector = True
            return replace(t, vector=NO_VECTOR)
        return t

    async def _index(self, lines: list[MemoryLine]) -> list[StoredMemory]:
        """Reuse each memory's stored index when allowed, present and sound (a finite unit vector
        of the model's size: a damaged file's is not); embed the others again."""
        terms: list[Sequence[str] | None] = [line.terms for line in lines]
        if self.reuse and self.terms is not None:
            terms = [s.terms for s in await self.terms.build([line.record for line in lines])]
        out: list[StoredMemory | None] = [
            StoredMemory(line.record, line.vector, terms[i])
            if self.reuse and sound(line.vector, self.dim) and terms[i] is not None
            else None
            for i, line in enumerate(lines)
        ]
        builder = self.builder
        i = 0
        while i < len(out):  # runs of kept and of rebuilt memories, in the file's order
            keep, j = out[i] is not None, i
            while j < len(out) and (out[j] is not None) == keep:
                j += 1
            records = [line.record for line in lines[i:j]]
            if keep:  # each still the previous turn of the next in its session
                builder.passed(records)
            else:
                if builder.embed is None:  # the model, loaded on first need
                    builder.embed = embed_with(self.mem.embedder)
                out[i:j] = await builder.build(records)
                self.reembedded += j - i
            i = j
        return [item for item in out if item is not None]


def _as_edited(line: MemoryLine) -> MemoryLine:
    """A memory whose text is not the one its hash was made from was edited in the file (by hand,
    a typo fixed before a restore): it gets its text's hash (what a later add of that text is
    compared with) and is indexed from that text, not with the vector and terms of the old one
    (which search would find it by, and `memoryd check` reports)."""
    digest = content_hash(line.record.text)
    if line.record.hash == digest:
        return line
    return MemoryLine(replace(line.record, hash=digest))


def same_source(recorded: str | None, source: Path) -> bool:
    """Whether ``recorded`` (the file an unfinished import recorded) is ``source``, however either
    is spelled (relative to another folder, absolute, through a link)."""
    if not recorded:
        return False
    if recorded == str(source) or os.path.abspath(recorded) == os.path.abspath(source):
        return True
    try:
        return Path(recorded).samefile(source)
    except OSError:  # either is not there
        return False


def restart_advice(source: Path | str) -> str:
    """How to finish an unfinished import of ``source`` into a store that held memories."""
    again = shlex.join(["memoryd", "import", "--restart", str(source)])
    return (
        f"once it no longer runs, `{again}` with these settings deletes only what it wrote (nothing "
        "the store held before) and imports the file again"
    )


def require_file(source: Path, error: type[InvalidInputError] = InvalidInputError) -> None:
    """Refuse what cannot be read more than once: an import reads its file once to check it whole
    and again to write it (into a new store, once more before making anything), so stdin (``-``),
    a pipe or a device would read empty the second time: nothing imported, or "empty"."""
    if str(source) == "-" or (source.exists() and not source.is_dir() and not source.is_file()):
        what = "stdin" if str(source) == "-" else "a pipe or a device, not a regular file"
        raise error(
            f"cannot import from {source}: it is {what}, and an import reads its file more than once "
            "(it checks it whole before writing anything): save the export to a file and import that",
            field="path",
        )


async def check_file(source: Path, progress: Progress | None = None) -> None:
    """Pass 1 on the file alone (format, completeness, references), asking no store: what an import
    into a new store checks before it makes anything (:class:`InvalidInputError` naming the line).
    ``progress`` is told of the lines checked, as the import's own pass 1 tells them."""
    require_file(source)
    await _survey(None, source, progress)


async def import_store(
    mem: AsyncMemory, source: Path, *, batch_size: int = 256, progress: Progress | None = None,
    state: ImportState | None = None, restart: bool = False, new_store: bool | None = None,
) -> ImportSummary:  # fmt: skip
    """Load the export at ``source`` into ``mem``'s store (see the module docstring); nothing is
    written unless the whole file is valid and conflicts with nothing in the store. ``state``, if
    given, is kept up to date with what is written (what a stopped import reports). ``restart``:
    first remove what an unfinished import of ``source`` into this store (one that held memories)
    wrote, and only that (:mod:`memoryd.portability.undo`). ``new_store``: whether the caller made
    the store for this import (unfinished, it then stays closed until the import is finished or
    the store removed whole); None: when it holds no memory. A store that existed, empty or not,
    may be a running server's: what it writes meanwhile must survive a ``restart``."""
    started = time.perf_counter()
    require_file(source)
    await mem.open()
    records = mem.storage.records
    failed = await records.get_meta(IMPORT_PARTIAL)
    this = same_source(failed, source)  # the unfinished import was of this file (however spelled)
    if failed and not this:  # its marker would be lost, and with it `check`'s report
        raise ConflictError(
            f"an import of {failed} into this store did not finish; before another one, "
            f"{restart_advice(failed)}",
            field="file",
        )
    if restart:  # an unfinished import of this file into a store that held memories: undone first
        if not this:
            raise ConflictError(
                f"--restart undoes only an import that did not finish, and no import of {source} into "
                "this store is unfinished: nothing was deleted",
                field="restart",
            )
        await _survey(None, source)  # the file whole, before anything of it is deleted
        if progress is not None:
            progress("undoing the unfinished import", 0, None)
        floor = await records.get_meta(IMPORT_FLOOR)
        await undo_partial(mem, (line for _, line in _lines(source)), int(floor) if floor else None)
        await records.set_meta(IMPORT_FLOOR, "")
        await records.set_meta(IMPORT_PARTIAL, "")
        this = False
    # A new (empty) store: its index or graph in another engine records the import from now until
    # it is complete, so that one whose store is deleted by hand after a kill can still be released
    # (memoryd.storage.claims). Recorded before the survey: a kill may come at any time.
    new = (await records.stats())["memories"] == 0 if new_store is None else new_store
    state = state if state is not None else ImportState()
    state.new = new
    claim = ImportClaim(str(source), str(Path(mem.settings.storage.path).absolute())) if new else None
    if claim is not None:
        await mem.storage.mark_import(claim)
    try:
        return await _import(mem, source, batch_size, progress, claim, started, state, this)
    except BaseException:
        if claim is not None:
            with contextlib.suppress(Exception):
                if not await records.get_meta(IMPORT_UNFINISHED):  # refused before loading anything
                    await mem.storage.mark_import(None)
        raise


async def _import(
    mem: AsyncMemory, source: Path, batch_size: int, progress: Progress | None, claim: ImportClaim | None,
    started: float, state: ImportState, unfinished: bool,
) -> ImportSummary:  # fmt: skip
    """Both passes of :func:`import_store` (see the module docstring)."""
    if progress is not None:
        progress("checking the file", 0, None)
    survey = await _survey(mem, source, progress, unfinished=unfinished)
    header = survey.header
    reuse = header.vectors and header.embedder == identity(mem.settings, mem.loaded_embedder)
    same_terms = header.index_format == INDEX_FORMAT
    loader = _Loader(
        mem, reuse, batch_size, progress, survey.known, same_terms=same_terms, counts=state.written
    )
    records = mem.storage.records
    # A new store (the usual target) is marked until the last row is in: see Storage.open. One that
    # held memories already is marked so that `memoryd check` reports a failed import, but it still
    # opens: a failed import must not lock its owner out of what it held.
    mark = IMPORT_UNFINISHED if claim is not None else IMPORT_PARTIAL
    if claim is None and not (unfinished and await records.get_meta(IMPORT_FLOOR)):
        # what --restart keeps: the history the store held before this import (an unfinished
        # import's floor, if it wrote nothing that is in the way now, is kept: it is lower)
        await records.set_meta(IMPORT_FLOOR, str(await records.last_history_id()))
    await records.set_meta(mark, os.path.abspath(source))  # named so from any folder (check, --restart)
    if progress is not None:
        progress("importing", 0, sum(survey.counts.values()))
    for _, line in _lines(source):
        if not isinstance(line, Header | End):
            await loader.add(_KIND[type(line)], line)
    await loader.flush()
    segments = mem.storage.segments
    if loader.revector and segments is not None:  # the hierarchy follows the memories' new vectors
        if progress is not None:
            progress("hierarchy vectors", 0, None)
        await segments.revector(mem.storage.vectors.vectors)
    if claim is not None:  # first: a failure here leaves the store unfinished, and its claim with it
        await mem.storage.mark_import(None)
    await records.set_meta(mark, "")
    if claim is None:
        await records.set_meta(IMPORT_FLOOR, "")
    return ImportSummary(
        str(source), loader.counts, loader.reembedded,
        reuse and loader.reembedded < loader.counts.get("memory", 0),  # some vector of the file kept
        time.perf_counter() - started,
    )
