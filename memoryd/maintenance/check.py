"""``memoryd check``: is the store sound, and if not, what is wrong and how to repair it.

Checks, each role through its own Protocol (no backend named here):

- the record store: the engine's integrity check (SQLite ``PRAGMA integrity_check``
  on the file every embedded role shares), readable metadata, and history rows
  that reference memories which neither exist nor were deleted;
- the keyword index: its engine's check (SQLite FTS5 ``integrity-check``);
- the vector index: every vector the model's size, finite and unit length;
- the graph: names, relations and mentions that point nowhere;
- the memory hierarchy (segment store): turns in segments that do not exist or are another
  owner's, segments holding no turns or not as many as they count, short-term turns without
  their vector;
- across roles: every memory (current or superseded) has exactly one vector and one
  keyword entry and vice versa, with the same scope and validity, every memory
  a graph relation names exists, and every turn of the hierarchy is a current episode of
  its owner and session. Lists are merged in memory-id order, a page at a
  time, so memory use does not grow with the store.

A role that cannot even be opened (its table gone, another embedder's vectors) is
reported as a problem, and the rest is still checked.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from memoryd.config import Settings
from memoryd.embedders import Embedder
from memoryd.errors import ConflictError, MemorydError, StorageError
from memoryd.hierarchy.models import owner_key
from memoryd.ingest.derived import owner_scope
from memoryd.ingest.represent import Represent
from memoryd.maintenance.check_terms import REINDEX_KEYWORDS, term_problems
from memoryd.maintenance.rebuild import Progress, identity
from memoryd.models import MemoryKind, Scope
from memoryd.storage import IMPORT_PARTIAL, IMPORT_UNFINISHED, STORE_ID, build_storage
from memoryd.storage.portable import IndexEntry

__all__ = ["CheckReport", "Problem", "check_store"]

PAGE = 2000
EXAMPLES = 3
KEPT = 100_000  # problem ids of one kind kept to compare two passes; beyond, the first pass stands
REINDEX = "run `memoryd reindex`: it rebuilds the vector and keyword indexes from the records"
DAMAGED = (
    "the records themselves are damaged: restore the last backup into a new store (`memoryd import`), "
    "or `memoryd export --skip-unreadable` what is still readable and import that (a row whose metadata "
    "cannot be read keeps its stored text under metadata.memoryd_damaged)"
)
UNREACHABLE = (
    "the file could not be opened, which says nothing of its data: check that this user may read "
    "and write it and its folder (a read-only mount, other permissions), and that no other "
    "program holds it locked"
)
def server_down(backend: str, where: str, setting: str) -> str:
    """The fix of a storage server that does not answer."""
    return f"start the {backend} server at {where}, or correct {setting}"


def server_fault(engine: str, setting: str) -> str:
    """The fix of a storage engine that answers but refuses (its setup, or the settings to reach it)."""
    return (
        f"put {engine} or {setting} right as the problem says: the index is not at fault (a reindex "
        "would stop on the same error); then run `memoryd check` again"
    )


def not_its_own(setting: str) -> str:
    """The fix of an index in another engine that is another store's, or holds another program's
    data: a reindex refuses it too."""
    return (
        f"give this store an index of its own: set {setting} to a name no other store or program uses, "
        "then run `memoryd reindex` to build it there (a reindex never drops an index that is not "
        "this store's)"
    )


_UNREACHABLE_SIGNS = ("unable to open", "readonly", "read-only", "locked", "permission", "busy")
GRAPH = "the graph is not rebuilt automatically; memories, history and search are unaffected"
TIERS = (
    "the memory hierarchy (turns and segments: what context() and the memory tree show of past "
    "sessions, and which turns are promoted) is not rebuilt automatically; memories, history and "
    "search are unaffected. To repair it, `memoryd export --skip-unreadable` the store and import "
    "that file into a new store (`memoryd import`): what does not hang together is left out"
)
UNFINISHED_IMPORT = (
    "once that import no longer runs, run `memoryd import --restart` with that file and these settings: it "
    "deletes what the import made (this store, and its vector index or graph in another engine) and "
    "imports the file again"
)
PARTIAL_IMPORT = (
    "once that import no longer runs, run `memoryd import --restart` with that file and these settings: it "
    "deletes only what the import wrote (nothing the store held before) and imports the file again; or "
    "restore the store from the export made before the import"
)

Fetch = Callable[..., Awaitable[list[IndexEntry]]]


@dataclass(frozen=True)
class Problem:
    """One thing wrong: which role, what, and how to repair it."""

    role: str
    message: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "message": self.message, "fix": self.fix}


@dataclass
class CheckReport:
    """What ``check_store`` found; ``ok`` when there is no problem."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "path": self.path,
            "problems": [p.to_dict() for p in self.problems],
            "counts": dict(self.counts),
            "elapsed_s": round(self.elapsed_s, 3),
        }


class _Tally:
    """How many ids had one kind of problem, and the first few of them (all of them, up to
    :data:`KEPT`, to tell a lasting problem from a write seen half-way)."""

    def __init__(self) -> None:
        self.count = 0
        self.examples: list[str] = []
        self.ids: list[str] | None = []  # None: too many to keep

    def __bool__(self) -> bool:
        return self.count > 0

    def add(self, memory_id: str) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(memory_id)
        if self.ids is not None and len(self.ids) < KEPT:
            self.ids.append(memory_id)
        else:
            self.ids = None

    def common(self, other: _Tally) -> _Tally:
        """What this pass and ``other`` both found (this one's, when either kept too many)."""
        if self.ids is None or other.ids is None:
            return self
        both = _Tally()
        again = set(other.ids)
        for memory_id in self.ids:
            if memory_id in again:
                both.add(memory_id)
        return both

    def message(self, one: str, many: str) -> str | None:
        """"3 memories have no vector (e.g. …)": ``one``/``many`` are the singular and plural."""
        if not self.count:
            return None
        return f"{self.count} {one if self.count == 1 else many} (e.g. {', '.join(self.examples)})"


async def _stream(fetch: Fetch) -> AsyncIterator[IndexEntry]:
    after: str | None = None
    while True:
        page = await fetch(after=after, limit=PAGE)
        for entry in page:
            yield entry
        if len(page) < PAGE:
            return
        after = page[-1].memory_id


def _same(a: IndexEntry, b: IndexEntry) -> bool:
    return (a.user_id, a.agent_id, a.run_id, a.valid_to) == (b.user_id, b.agent_id, b.run_id, b.valid_to)


async def _compare(
    role: str, records: Fetch, index: Fetch, progress: Progress | None, total: int | None
) -> tuple[list[Problem], int, int]:
    """Merge the record store's entries with an index's: (problems, memories seen, index entries).

    Each is read a page at a time, so a write landing between two pages can look like a problem
    that is not there (a memory added after its records page was read, with its vector). When
    the first pass finds any, a second pass runs, and only what both found is reported."""
    first = await _merge(records, index, progress, role, total)
    kinds, seen, held = first
    if any(kinds.values()):
        again, _, _ = await _merge(records, index, None, role, total)
        kinds = {k: kinds[k].common(again[k]) for k in kinds}
    one, many = ("vector", "vectors") if role == "vectors" else ("keyword entry", "keyword entries")
    messages = [
        kinds["missing"].message(f"memory has no {one}", f"memories have no {one}"),
        kinds["stray"].message(f"{one} belongs to no memory", f"{many} belong to no memory"),
        kinds["differ"].message(
            f"{one} disagrees with its memory's scope or validity",
            f"{many} disagree with their memory's scope or validity",
        ),
    ]
    fix = REINDEX if role == "vectors" else REINDEX_KEYWORDS
    return [Problem(role, m, fix) for m in messages if m], seen, held


async def _merge(
    records: Fetch, index: Fetch, progress: Progress | None, role: str, total: int | None
) -> tuple[dict[str, _Tally], int, int]:
    tallies = {"missing": _Tally(), "stray": _Tally(), "differ": _Tally()}
    left, right = _stream(records), _stream(index)
    a = await anext(left, None)
    b = await anext(right, None)
    seen = held = told = 0  # told: memories the progress bar was told of
    while a is not None or b is not None:
        if b is None or (a is not None and a.memory_id < b.memory_id):
            assert a is not None
            tallies["missing"].add(a.memory_id)
            seen += 1
            a = await anext(left, None)
        elif a is None or b.memory_id < a.memory_id:
            tallies["stray"].add(b.memory_id)
            held += 1
            b = await anext(right, None)
        else:
            if not _same(a, b):
                tallies["differ"].add(a.memory_id)
            seen += 1
            held += 1
            a = await anext(left, None)
            b = await anext(right, None)
        if progress is not None and (seen - told >= PAGE or (a is None and seen > told)):
            progress(f"comparing {role}", seen - told, total)  # a page of memories, and the last ones
            told = seen
    return tallies, seen, held


async def _graph_refs(records: Any, graph: Any) -> tuple[list[Problem], int]:
    """Every memory a graph relation names must exist (hard deletes remove their mentions)."""
    unknown = _Tally()
    after: str | None = None
    refs = 0
    while True:
        ids = await graph.memory_refs(after=after, limit=PAGE)
        found = await records.get_many(ids)
        for memory_id in ids:
            if memory_id not in found:
                unknown.add(memory_id)
        refs += len(ids)
        if len(ids) < PAGE:
            break
        after = ids[-1]
    message = unknown.message(
        "memory named by a graph relation does not exist", "memories named by graph relations do not exist"
    )
    return ([Problem("graph", message, GRAPH)] if message else []), refs


async def _tier_refs(records: Any, segments: Any) -> tuple[list[Problem], int]:
    """Every turn of the hierarchy names a current episode, of the turn's owner and session. Read
    a page of turns, then their memories: a delete landing in between looks like a turn of no
    memory, so when the first pass finds anything a second runs, and only what both found counts."""
    first, turns = await _tier_pass(records, segments)
    if any(first.values()):
        again, _ = await _tier_pass(records, segments)
        first = {k: first[k].common(again[k]) for k in first}
    one, many = "hierarchy turn", "hierarchy turns"
    messages = [
        first["missing"].message(f"{one} names a memory that does not exist",
                                 f"{many} name memories that do not exist"),
        first["kind"].message(f"{one} names a memory that is not an episode",
                              f"{many} name memories that are not episodes"),
        first["ended"].message(f"{one} names a memory that is not current",
                               f"{many} name memories that are not current"),
        first["owner"].message(f"{one}'s owner or session disagrees with its memory's",
                               f"{many}' owners or sessions disagree with their memories'"),
    ]  # fmt: skip
    return [Problem("segments", m, TIERS) for m in messages if m], turns


async def _tier_pass(records: Any, segments: Any) -> tuple[dict[str, _Tally], int]:
    tallies = {"missing": _Tally(), "kind": _Tally(), "ended": _Tally(), "owner": _Tally()}
    after: str | None = None
    turns = 0
    while True:
        page, after = await segments.scan_turns(Scope(), after=after, limit=PAGE)
        found, unreadable = await _readable(records, [t.memory_id for t in page])
        for turn in page:
            m = found.get(turn.memory_id)
            if turn.memory_id in unreadable:
                continue  # the records' own check names it
            if m is None:
                tallies["missing"].add(turn.memory_id)
            elif m.kind is not MemoryKind.EPISODE:
                tallies["kind"].add(turn.memory_id)
            elif not m.is_current:
                tallies["ended"].add(turn.memory_id)
            elif turn.owner != owner_key(owner_scope(m.scope)) or (
                (turn.user_id, turn.agent_id, turn.run_id) != (m.user_id, m.agent_id, m.run_id)
            ):
                tallies["owner"].add(turn.memory_id)
        turns += len(page)
        if after is None:
            return tallies, turns


async def _readable(records: Any, ids: list[str]) -> tuple[dict[str, Any], set[str]]:
    """The memories with these ids, and the ids of those this version cannot read (a newer kind,
    a damaged time: a :class:`StorageError` naming one), looked up one at a time only then."""
    try:
        return await records.get_many(ids, shared=True), set()
    except StorageError:
        found: dict[str, Any] = {}
        unreadable: set[str] = set()
        for memory_id in ids:
            try:
                found.update(await records.get_many([memory_id], shared=True))
            except StorageError:
                unreadable.add(memory_id)
        return found, unreadable


async def check_store(
    settings: Settings, *, embedder: Embedder | None = None, progress: Progress | None = None
) -> CheckReport:
    """Check the store ``settings`` point at (``storage.path``); what it finds is reported, not raised."""
    started = time.perf_counter()
    report = CheckReport(str(settings.storage.path))
    storage = build_storage(settings)

    async def attempt(role: str, fix: str, step: Callable[[], Awaitable[Any]]) -> Any:
        """Run one step; a memoryd error becomes a problem of ``role`` (and None)."""
        try:
            result = await step()
        except MemorydError as exc:
            if fix is DAMAGED and any(sign in exc.message.lower() for sign in _UNREACHABLE_SIGNS):
                fix = UNREACHABLE  # never "restore a backup" for a file that is only out of reach
            part = getattr(storage, role, None)  # a server's refusal is the server's, not the data's:
            if getattr(part, "outside_transaction", False) and exc.field == getattr(part, "setting", None):
                fix = server_fault(getattr(part, "engine", role), str(exc.field))
            if isinstance(exc, ConflictError) and exc.field == getattr(part, "owner_setting", None):
                fix = not_its_own(str(exc.field))  # another store's: `memoryd reindex` would refuse it
            report.problems.append(Problem(role, exc.message, fix))
            return None
        return True if result is None else result

    async def reachable(role: str) -> bool:
        """Whether the role's server (in another engine) answers; if not, a problem naming it."""
        part = getattr(storage, role)
        if not getattr(part, "outside_transaction", False) or not getattr(part, "remote", True):
            return True  # in the record store's file, or a local mode: opening it says the rest
        try:
            await part.ping()
        except MemorydError as exc:
            where = getattr(getattr(part, "client", part), "where", "")
            fix = server_down(getattr(settings.storage, role), where, exc.field or f"storage.{role}")
            report.problems.append(Problem(role, exc.message, fix))
            return False
        return True

    def note(phase: str) -> None:
        if progress is not None:
            progress(phase, 0, None)

    try:
        records, keywords, vectors, graph = storage.records, storage.keywords, storage.vectors, storage.graph
        segments = storage.segments
        model, dim = identity(settings, embedder)
        note("opening the store")
        if not await attempt("records", DAMAGED, records.open):
            return report
        unfinished = await attempt("records", DAMAGED, lambda: records.get_meta(IMPORT_UNFINISHED))
        if isinstance(unfinished, str) and unfinished:  # what Storage.open refuses: a partial store
            message = f"an import into this store did not finish (from {unfinished}): it holds part of it"
            report.problems.append(Problem("records", message, UNFINISHED_IMPORT))
        partial = await attempt("records", DAMAGED, lambda: records.get_meta(IMPORT_PARTIAL))
        if isinstance(partial, str) and partial:  # into a store that held memories: it still opens
            message = (
                f"an import into this store did not finish (from {partial}): next to what it held, "
                "it holds part of that file"
            )
            report.problems.append(Problem("records", message, PARTIAL_IMPORT))
        named = await attempt("records", DAMAGED, lambda: records.get_meta(STORE_ID))
        store_id = named if isinstance(named, str) else None
        # A server that does not answer is named as such: its role's repair would fail too
        up = {role: await reachable(role) for role in ("keywords", "vectors", "graph")}
        opened = {
            "keywords": up["keywords"] and await attempt("keywords", REINDEX_KEYWORDS, keywords.open),
            "vectors": up["vectors"]
            and await attempt("vectors", REINDEX, lambda: vectors.open(model, dim, store=store_id)),
            "graph": up["graph"] and await attempt("graph", GRAPH, graph.open),
            "segments": segments is not None and await attempt("segments", TIERS, segments.open),
        }
        stats = await attempt("records", DAMAGED, records.stats)
        total = int(stats["memories"]) if stats else None
        if stats:
            report.counts.update(memories=int(stats["memories"]), history=int(stats["history"]))
        roles: list[tuple[str, str, Any]] = [
            ("records", DAMAGED, records), ("keywords", REINDEX_KEYWORDS, keywords),
            ("vectors", REINDEX, vectors), ("graph", GRAPH, graph),
        ]  # fmt: skip
        if segments is not None:
            roles.append(("segments", TIERS, segments))
        for role, fix, store in roles:
            if role == "records" or opened[role]:
                note(f"checking {role}")
                found = await attempt(role, fix, store.check)
                if isinstance(found, list):
                    report.problems.extend(Problem(role, p, fix) for p in found)
        for role, index in (("vectors", vectors.entries), ("keywords", keywords.entries)):
            if opened[role]:
                compare = functools.partial(_compare, role, records.entries, index, progress, total)
                fix = REINDEX if role == "vectors" else REINDEX_KEYWORDS
                compared = await attempt(role, fix, compare)
                if compared:
                    report.problems.extend(compared[0])
                    report.counts[role] = compared[2]
        if opened["keywords"]:
            note("checking keyword terms")
            represent = Represent(settings.index)
            step = functools.partial(term_problems, records, keywords, represent, progress)
            terms = await attempt("keywords", REINDEX_KEYWORDS, step)
            if isinstance(terms, list):
                report.problems.extend(Problem("keywords", message, fix) for message, fix in terms)
        if opened["graph"]:
            refs = await attempt("graph", GRAPH, lambda: _graph_refs(records, graph))
            if refs:
                report.problems.extend(refs[0])
                report.counts["graph_memory_refs"] = refs[1]
        if opened["segments"]:
            tiers = await attempt("segments", TIERS, lambda: _tier_refs(records, segments))
            if tiers:
                report.problems.extend(tiers[0])
                report.counts["tier_turns"] = tiers[1]
        return report
    finally:
        await storage.close()
        report.elapsed_s = time.perf_counter() - started
