"""The memory hierarchy's bookkeeping in two tables of the shared SQLite file.

``tier_turns`` has one row per episode in the hierarchy: its owner and session,
its segment (``NULL`` while short-term), how far it has been processed into
long-term memory and its keywords; a short-term turn also keeps its vector, so it
can join a segment later without reading the indexes. ``segments`` has one row per
segment: owner, label and keywords, centroid, counts, times and tier.

Writes join the write's transaction (:meth:`apply`). A segment row is written
whole except ``retrievals``, which only ever grows by increments, and
``touched_at``, which never moves back, so deferred heat flushes and writes
never undo each other. A segment a turn leaves (a hard delete) or whose turn's
text or index vector changed is recounted from the turns it holds then: its turn count,
keywords and label from their keywords, its centroid from their vectors in the vector
index's table of this file. With the vector index in another engine, the centroid is moved
instead, from the old vectors of the turns that changed or left to their new ones
(``TierChanges.reindexed``); a short-term turn re-indexed takes its new vector. So is a
segment recounted that a write planned from rows a delete changed before the write committed
(a delete by another process takes no lock of this one, nor does ``delete_all``): its count is
checked against its turns, and a segment whose turns are all gone is not written
back. The mid-term segments of recently written owners are cached (their
centroids are read on every write that moves a turn); own commits update the
cache; one that recounted a segment empties it, and a write by another process drops the
owners whose segments it touched.

Export and import list both tables a page at a time (:meth:`SQLiteSegmentStore.scan_turns`,
:meth:`~SQLiteSegmentStore.scan_segments`) and write the rows back verbatim
(:meth:`~SQLiteSegmentStore.restore`): turns keep their order, not their ``seq``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from memoryd.hierarchy.keywords import label, merge_counts, words
from memoryd.hierarchy.models import (
    EVICTED,
    MID,
    Segment,
    SessionInfo,
    ShortTerm,
    ShortTurn,
    TierChanges,
    TierCounts,
    TurnRow,
    owner_key,
)
from memoryd.models import Scope
from memoryd.storage.base import ChangeSet, StoredTurn
from memoryd.storage.resources import Resources
from memoryd.storage.sqlite import changes as change_log
from memoryd.storage.sqlite import segment_checks
from memoryd.storage.sqlite.changes import Foreign
from memoryd.storage.sqlite.database import SQLiteDatabase, execute_script, has_table

__all__ = ["SQLiteSegmentStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tier_turns (
    seq INTEGER PRIMARY KEY,
    memory_id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    user_id TEXT, agent_id TEXT, run_id TEXT,
    at REAL NOT NULL,
    level INTEGER NOT NULL DEFAULT 0,
    segment_id TEXT,
    vector BLOB,
    words TEXT
);
CREATE INDEX IF NOT EXISTS tier_turns_short ON tier_turns(owner, segment_id, run_id, seq);
CREATE INDEX IF NOT EXISTS tier_turns_session ON tier_turns(owner, run_id, seq);
CREATE INDEX IF NOT EXISTS tier_turns_segment ON tier_turns(segment_id);
CREATE TABLE IF NOT EXISTS segments (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    user_id TEXT, agent_id TEXT,
    label TEXT NOT NULL,
    keywords TEXT NOT NULL,
    centroid BLOB NOT NULL,
    turns INTEGER NOT NULL,
    retrievals INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    touched_at REAL NOT NULL,
    last_run_id TEXT,
    tier TEXT NOT NULL,
    promoted_at REAL,
    promotions INTEGER NOT NULL DEFAULT 0,
    level INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS segments_owner ON segments(owner, tier);
"""

_SEG_COLS = (
    "id, owner, user_id, agent_id, label, keywords, centroid, turns, retrievals, created_at, "
    "touched_at, last_run_id, tier, promoted_at, promotions, level"
)
_UPDATE_SEGMENT = (
    "UPDATE segments SET label = ?, keywords = ?, centroid = ?, turns = ?, touched_at = max(touched_at, ?), "
    "last_run_id = ?, tier = ?, promoted_at = ?, promotions = ?, level = ? WHERE id = ?"
)
_TURN_COLS = "memory_id, owner, user_id, agent_id, run_id, at, level, segment_id, vector, words"
_INSERT_SEGMENT = f"INSERT INTO segments ({_SEG_COLS}) VALUES ({', '.join('?' * 16)})"
_INSERT_TURN = f"INSERT INTO tier_turns ({_TURN_COLS}) VALUES ({', '.join('?' * 10)})"
_CACHED_OWNERS = 256
_CHUNK = 500


def _blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def _vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


def _segment_row(s: Segment) -> tuple[Any, ...]:
    return (
        s.id, s.owner, s.user_id, s.agent_id, s.label, json.dumps(s.keywords, ensure_ascii=False),
        _blob(s.centroid), s.turns, s.retrievals, s.created_at, s.touched_at, s.last_run_id, s.tier,
        s.promoted_at, s.promotions, s.level,
    )  # fmt: skip


def _update_row(s: Segment) -> tuple[Any, ...]:
    return (
        s.label, json.dumps(s.keywords, ensure_ascii=False), _blob(s.centroid), s.turns, s.touched_at,
        s.last_run_id, s.tier, s.promoted_at, s.promotions, s.level, s.id,
    )  # fmt: skip


def _row_segment(r: Sequence[Any]) -> Segment:
    s = Segment(
        id=r[0], owner=r[1], user_id=r[2], agent_id=r[3], label=r[4],
        keywords=tuple((str(w), int(n)) for w, n in json.loads(r[5])), centroid=_vector(r[6]),
        turns=r[7], retrievals=r[8], created_at=r[9], touched_at=r[10], last_run_id=r[11], tier=r[12],
        promoted_at=r[13], promotions=r[14], level=r[15],
    )  # fmt: skip
    return replace(s, unit=s.direction())  # computed once: cached segments are reused by every write


def _turn_row(t: StoredTurn) -> tuple[Any, ...]:
    words = None if t.words is None else json.dumps(list(t.words), ensure_ascii=False)
    vector = None if t.vector is None else _blob(t.vector)
    return (t.memory_id, t.owner, t.user_id, t.agent_id, t.run_id, t.at, t.level, t.segment_id, vector, words)


def _row_turn(r: Sequence[Any]) -> StoredTurn:
    vector = None if r[8] is None else _vector(r[8])
    words = None if r[9] is None else tuple(json.loads(r[9]))
    return StoredTurn(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], vector, words)


def _owner_sql(owner: Scope) -> tuple[str, list[Any]]:
    return "owner = ?", [owner_key(owner)]


class _Cache:
    """Mid-term segments of recently written owners, by owner key (see the module doc)."""

    def __init__(self) -> None:
        self.owners: OrderedDict[str, dict[str, Segment]] = OrderedDict()
        self.lock = threading.Lock()
        self.version = 0

    def get(self, key: str) -> tuple[list[Segment] | None, int]:
        with self.lock:
            found = self.owners.get(key)
            if found is not None:
                self.owners.move_to_end(key)
                return list(found.values()), self.version
            return None, self.version

    def put(self, key: str, segments: list[Segment], version: int) -> None:
        with self.lock:
            if version != self.version:
                return  # a commit landed while we read: the rows may be stale
            self.owners[key] = {s.id: s for s in segments}
            while len(self.owners) > _CACHED_OWNERS:
                self.owners.popitem(last=False)

    def update(self, segments: Sequence[Segment], heated: dict[str, tuple[int, float]]) -> None:
        with self.lock:
            self.version += 1
            for s in segments:
                cached = self.owners.get(s.owner)
                if cached is None:
                    continue
                old = cached.get(s.id)
                if s.tier != MID:
                    cached.pop(s.id, None)
                    continue
                # keep the increments flushed meanwhile (bumped below); touched_at never moves back
                cached[s.id] = replace(
                    s,
                    retrievals=old.retrievals if old is not None else s.retrievals,
                    touched_at=max(s.touched_at, old.touched_at if old is not None else 0.0),
                )
            for sid, (count, at) in heated.items():
                for cached in self.owners.values():
                    old = cached.get(sid)
                    if old is not None:
                        cached[sid] = _bump(old, count, at)

    def foreign(self, changed: Foreign | None) -> None:
        """Another process committed: drop the owners whose segments it touched."""
        with self.lock:
            self.version += 1
            if changed is None:
                self.owners.clear()
                return
            for owner in [o for o in self.owners if change_log.key("owner", o) in changed.scopes]:
                del self.owners[owner]

    def clear(self) -> None:
        with self.lock:
            self.version += 1
            self.owners.clear()


def _bump(s: Segment, count: int, at: float) -> Segment:
    return replace(s, retrievals=s.retrievals + count, touched_at=max(s.touched_at, at))


class SQLiteSegmentStore:
    """Turns in tiers and mid-term segments in the shared SQLite file."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db
        self._cache = _Cache()
        db.watch(lambda changed, _: self._cache.foreign(changed))

    @classmethod
    def from_resources(cls, resources: Resources) -> SQLiteSegmentStore:
        return cls(resources.sqlite())

    async def open(self) -> None:
        self.db.open()

        await self.db.write(lambda conn: execute_script(conn, _SCHEMA))

    async def close(self) -> None:
        self.db.close()

    # -- writing -------------------------------------------------------------
    async def apply(self, changes: ChangeSet) -> None:
        tiers: TierChanges | None = changes.tiers
        deletes = [(i,) for i in changes.deletes]
        if not tiers and not deletes:
            return
        new_rows: list[tuple[Any, ...]] = []
        if tiers is not None and tiers.new_turns:
            assert tiers.owner is not None, "new turns need their owner"
            key, owner = owner_key(tiers.owner), tiers.owner
            for t in tiers.new_turns:
                short = t.segment_id is None
                new_rows.append(
                    (
                        t.memory_id, key, owner.user_id, owner.agent_id, t.run_id, t.at, t.level,
                        t.segment_id, _blob(t.vector) if short else None,
                        json.dumps(t.words, ensure_ascii=False),
                    )
                )  # fmt: skip
        revised = [
            (json.dumps(list(w), ensure_ascii=False), mid)
            for mid, w in (tiers.revised.items() if tiers is not None else ())
        ]

        heated: dict[str, tuple[int, float]] = {}  # filled by the op: segment id -> retrievals added
        recounted: list[bool] = []  # filled by the op: a segment was not written as planned

        def op(conn: sqlite3.Connection) -> None:
            if tiers is not None:
                found, fixed = _write(conn, tiers, new_rows, revised)
                heated.update(found)
                recounted.append(fixed)
            if deletes:
                _forget(conn, deletes)

        def after() -> None:
            if deletes or any(recounted):
                self._cache.clear()
            elif tiers is not None:
                self._cache.update(tiers.segments, heated)

        await self.db.write(op, after_commit=after)

    async def purge(self, scope: Scope) -> int:
        """Remove every turn and segment of ``scope`` (its ``user_id``/``agent_id``/``run_id``)."""
        turn_where = " AND ".join(f"{k} = ?" for k, _ in scope.items()) or "0"
        turn_args = [v for _, v in scope.items()]
        owned = [(k, v) for k, v in scope.items() if k != "run_id"]
        seg_where = " AND ".join(f"{k} = ?" for k, _ in owned)

        def op(conn: sqlite3.Connection) -> int:
            n = conn.execute(f"DELETE FROM tier_turns WHERE {turn_where}", turn_args).rowcount
            if seg_where:
                n += conn.execute(f"DELETE FROM segments WHERE {seg_where}", [v for _, v in owned]).rowcount
            conn.execute(
                "DELETE FROM segments WHERE NOT EXISTS "
                "(SELECT 1 FROM tier_turns t WHERE t.segment_id = segments.id)"
            )
            return int(n)

        removed = await self.db.write(op, after_commit=self._cache.clear)
        return int(removed or 0)

    async def delete_segments(self, ids: Sequence[str], *, empty_only: bool = False) -> int:
        """Delete these segments with the turns in them (``empty_only``: only those holding none)."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return 0
        empty = " AND NOT EXISTS (SELECT 1 FROM tier_turns t WHERE t.segment_id = segments.id)"

        def op(conn: sqlite3.Connection) -> int:
            gone = 0
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                if not empty_only:
                    conn.execute(f"DELETE FROM tier_turns WHERE segment_id IN ({marks})", chunk)
                sql = f"DELETE FROM segments WHERE id IN ({marks}){empty if empty_only else ''}"
                gone += conn.execute(sql, chunk).rowcount
            return gone

        return int(await self.db.write(op, after_commit=self._cache.clear) or 0)

    async def reset(self) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM tier_turns")
            conn.execute("DELETE FROM segments")

        await self.db.write(op, after_commit=self._cache.clear)

    async def restore(self, turns: Sequence[StoredTurn], segments: Sequence[Segment]) -> None:
        """Write scanned rows back verbatim, in the order given (see the Protocol)."""
        turn_rows = [_turn_row(t) for t in turns]
        segment_rows = [_segment_row(s) for s in segments]
        if not turn_rows and not segment_rows:
            return

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(_INSERT_SEGMENT, segment_rows)
            conn.executemany(_INSERT_TURN, turn_rows)

        await self.db.write(op, after_commit=self._cache.clear)

    async def revector(
        self, vectors_of: Callable[[list[str]], Awaitable[dict[str, np.ndarray]]], *, chunk: int = 1000
    ) -> int:
        rows: list[tuple[str, str | None, int]] = await self.db.read(
            lambda conn: conn.execute(
                "SELECT memory_id, segment_id, vector IS NOT NULL FROM tier_turns ORDER BY seq"
            ).fetchall()
        )
        sums: dict[str, np.ndarray] = {}
        counts: dict[str, int] = {}
        kept: list[tuple[bytes | None, str]] = []
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            found = await vectors_of([r[0] for r in part])
            for memory_id, segment_id, has_vector in part:
                vec = found.get(memory_id)
                if has_vector:
                    kept.append((None if vec is None else _blob(vec), memory_id))
                if segment_id is not None and vec is not None:
                    v = np.asarray(vec, dtype=np.float32)
                    sums[segment_id] = sums[segment_id] + v if segment_id in sums else v.copy()
                    counts[segment_id] = counts.get(segment_id, 0) + 1
        centroids = [(_blob(total / counts[sid]), sid) for sid, total in sums.items()]
        dim = next(iter(sums.values())).shape[0] if sums else None

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany("UPDATE tier_turns SET vector = ? WHERE memory_id = ?", kept)
            conn.executemany("UPDATE segments SET centroid = ? WHERE id = ?", centroids)
            if dim is None:
                return
            # A segment none of whose turns has a vector any more takes no new turns; its
            # centroid gets the new dimension so nothing compares vectors of two models.
            zero = _blob(np.zeros(dim, dtype=np.float32))
            ids = [r[0] for r in conn.execute("SELECT id FROM segments")]
            stale = [(EVICTED, zero, sid) for sid in ids if sid not in sums]
            conn.executemany("UPDATE segments SET tier = ?, centroid = ? WHERE id = ?", stale)

        await self.db.write(op, after_commit=self._cache.clear)
        return len(centroids)

    # -- reading -------------------------------------------------------------
    async def short_term(
        self, owner: Scope, choose: Callable[[list[SessionInfo]], dict[str | None, int]]
    ) -> ShortTerm:
        """One read: the owner's sessions with short-term turns, the oldest ``choose(sessions)[run]``
        turns of each session ``choose`` names (with vectors), and the segment each of those
        sessions' latest mid-term turn is in."""
        key = owner_key(owner)

        def op(conn: sqlite3.Connection) -> ShortTerm:
            sessions = [
                SessionInfo(r[0], r[1], r[2])
                for r in conn.execute(
                    "SELECT run_id, count(*), max(seq) FROM tier_turns WHERE owner = ? "
                    "AND segment_id IS NULL GROUP BY run_id",
                    (key,),
                )
            ]
            counts = choose(sessions)
            turns: list[ShortTurn] = []
            last: dict[str | None, str] = {}
            for run_id, n in counts.items():
                if n > 0:
                    for r in conn.execute(
                        "SELECT memory_id, run_id, seq, at, level, vector, words FROM tier_turns "
                        "WHERE owner = ? AND segment_id IS NULL AND run_id IS ? ORDER BY seq LIMIT ?",
                        (key, run_id, n),
                    ):
                        words = tuple(json.loads(r[6])) if r[6] else ()
                        turns.append(ShortTurn(r[0], r[1], r[2], r[3], r[4], _vector(r[5]), words))
                row = conn.execute(
                    "SELECT segment_id FROM tier_turns WHERE owner = ? AND run_id IS ? "
                    "AND segment_id IS NOT NULL ORDER BY seq DESC LIMIT 1",
                    (key, run_id),
                ).fetchone()
                if row is not None:
                    last[run_id] = row[0]
            return ShortTerm(sessions, counts, turns, last)

        # A few rows through the owner's indexes (short-term holds a bounded number of turns).
        return await self.db.read(op, point=True)

    async def segments(self, owner: Scope, *, evicted: bool = False) -> list[Segment]:
        """The owner's mid-term segments (``evicted``: and the evicted ones), any order."""
        key = owner_key(owner)
        if not evicted:
            self.db.catch_up()  # drops what another process changed
            found, version = self._cache.get(key)
            if found is not None:
                return found
        tiers = (MID, EVICTED) if evicted else (MID,)

        def op(conn: sqlite3.Connection) -> list[Segment]:
            marks = ",".join("?" * len(tiers))
            rows = conn.execute(
                f"SELECT {_SEG_COLS} FROM segments WHERE owner = ? AND tier IN ({marks})", (key, *tiers)
            )
            return [_row_segment(r) for r in rows]

        loaded = await self.db.read(op)
        if not evicted:
            self._cache.put(key, loaded, version)
        return loaded

    async def turns(
        self,
        *,
        owner: Scope | None = None,
        memory_ids: Sequence[str] | None = None,
        segment_id: str | None = None,
    ) -> list[TurnRow]:
        """The turns of an owner, or these memories, or one segment (give exactly one), in order."""
        if (owner is None) + (memory_ids is None) + (segment_id is None) != 2:
            raise ValueError("give exactly one of owner, memory_ids, segment_id")
        cols = "memory_id, run_id, segment_id, at, level"

        def op(conn: sqlite3.Connection) -> list[TurnRow]:
            if owner is not None:
                sql = f"SELECT {cols} FROM tier_turns WHERE owner = ? ORDER BY seq"
                rows = conn.execute(sql, (owner_key(owner),)).fetchall()
            elif segment_id is not None:
                sql = f"SELECT {cols} FROM tier_turns WHERE segment_id = ? ORDER BY seq"
                rows = conn.execute(sql, (segment_id,)).fetchall()
            else:
                ids = list(dict.fromkeys(memory_ids or ()))
                rows = []
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    rows += conn.execute(
                        f"SELECT {cols} FROM tier_turns WHERE memory_id IN ({marks}) ORDER BY seq", chunk
                    ).fetchall()
            return [TurnRow(*r) for r in rows]

        return await self.db.read(op)

    async def scan_turns(
        self, scope: Scope, *, after: str | None = None, limit: int = 1000
    ) -> tuple[list[StoredTurn], str | None]:
        """A page of the turns matching ``scope``, in the order they entered (``seq``)."""
        where = [f"{k} = ?" for k, _ in scope.items()]
        params: list[Any] = [v for _, v in scope.items()]
        sql = (
            f"SELECT seq, {_TURN_COLS} FROM tier_turns WHERE {' AND '.join([*where, 'seq > ?'])} "
            "ORDER BY seq LIMIT ?"
        )

        def op(conn: sqlite3.Connection) -> tuple[list[StoredTurn], str | None]:
            rows = conn.execute(sql, [*params, int(after or 0), limit]).fetchall()
            cursor = str(rows[-1][0]) if rows and len(rows) >= limit else None
            return [_row_turn(r[1:]) for r in rows], cursor

        return await self.db.read(op)

    async def scan_segments(
        self, scope: Scope, *, after: str | None = None, limit: int = 1000
    ) -> tuple[list[Segment], str | None]:
        """A page of the segments of ``scope``'s owners, in the order written (``rowid``)."""
        where = [f"s.{k} = ?" for k, _ in scope.items() if k != "run_id"]
        params: list[Any] = [v for k, v in scope.items() if k != "run_id"]
        if scope.run_id is not None:  # only segments holding a turn of that session
            inner = " AND ".join(f"t.{k} = ?" for k, _ in scope.items())
            where.append(f"EXISTS (SELECT 1 FROM tier_turns t WHERE t.segment_id = s.id AND {inner})")
            params += [v for _, v in scope.items()]
        cols = ", ".join(f"s.{c.strip()}" for c in _SEG_COLS.split(","))
        sql = (
            f"SELECT s.rowid, {cols} FROM segments s WHERE {' AND '.join([*where, 's.rowid > ?'])} "
            "ORDER BY s.rowid LIMIT ?"
        )

        def op(conn: sqlite3.Connection) -> tuple[list[Segment], str | None]:
            rows = conn.execute(sql, [*params, int(after or 0), limit]).fetchall()
            cursor = str(rows[-1][0]) if rows and len(rows) >= limit else None
            return [_row_segment(r[1:]) for r in rows], cursor

        return await self.db.read(op)

    async def held(self, *, memory_ids: Sequence[str] = (), segment_ids: Sequence[str] = ()) -> set[str]:
        """Which of these turn (memory) ids and segment ids the store holds."""
        asked = (("tier_turns", "memory_id", list(memory_ids)), ("segments", "id", list(segment_ids)))

        def op(conn: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for table, col, ids in asked:
                for start in range(0, len(ids), _CHUNK):
                    chunk = ids[start : start + _CHUNK]
                    marks = ",".join("?" * len(chunk))
                    sql = f"SELECT {col} FROM {table} WHERE {col} IN ({marks})"
                    found.update(r[0] for r in conn.execute(sql, chunk))
            return found

        return await self.db.read(op)

    async def check(self) -> list[str]:
        """Problems in the two tables themselves (see :mod:`~memoryd.storage.sqlite.segment_checks`)."""
        return await self.db.read(segment_checks.check)

    async def counts(self) -> list[TierCounts]:
        """Tier sizes per (user_id, agent_id)."""

        def op(conn: sqlite3.Connection) -> list[TierCounts]:
            out: dict[tuple[str | None, str | None], dict[str, int]] = {}
            for user, agent, short, mid, evicted in conn.execute(
                "SELECT t.user_id, t.agent_id, sum(t.segment_id IS NULL), sum(s.tier = ?), sum(s.tier = ?) "
                "FROM tier_turns t LEFT JOIN segments s ON s.id = t.segment_id "
                "GROUP BY t.user_id, t.agent_id",
                (MID, EVICTED),
            ):
                out[(user, agent)] = {
                    "short_term_turns": short or 0,
                    "mid_term_turns": mid or 0,
                    "evicted_turns": evicted or 0,
                }
            for user, agent, mid, evicted, promoted in conn.execute(
                "SELECT user_id, agent_id, sum(tier = ?), sum(tier = ?), sum(promoted_at IS NOT NULL) "
                "FROM segments GROUP BY user_id, agent_id",
                (MID, EVICTED),
            ):
                row = out.setdefault((user, agent), {})
                row.update(segments=mid or 0, evicted_segments=evicted or 0, promoted_segments=promoted or 0)
            return [TierCounts(user, agent, **row) for (user, agent), row in out.items()]

        return await self.db.read(op)


def _write(
    conn: sqlite3.Connection,
    tiers: TierChanges,
    new_rows: list[tuple[Any, ...]],
    revised: list[tuple[str, str]],
) -> tuple[dict[str, tuple[int, float]], bool]:
    """Write the tier changes; returns the retrievals added, by segment, and whether a segment
    was not written as planned (recounted, or not written back: see the module doc)."""
    missing = {s.id for s in tiers.segments if conn.execute(_UPDATE_SEGMENT, _update_row(s)).rowcount == 0}
    if new_rows:
        conn.executemany(
            "INSERT OR IGNORE INTO tier_turns (memory_id, owner, user_id, agent_id, run_id, at, level, "
            "segment_id, vector, words) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            new_rows,
        )
    if tiers.moved:
        conn.executemany(
            "UPDATE tier_turns SET segment_id = ?, vector = NULL WHERE memory_id = ?",
            [(sid, mid) for mid, sid in tiers.moved.items()],
        )
    if tiers.levels:
        conn.executemany(
            "UPDATE tier_turns SET level = max(level, ?) WHERE memory_id = ?",
            [(level, mid) for mid, level in tiers.levels.items()],
        )
    fixed = False
    counts = _held(conn, [s.id for s in tiers.segments])
    for s in tiers.segments:  # as planned, unless a delete committed since the plan read them
        held = counts.get(s.id, 0)
        if s.id in missing:  # new, or deleted meanwhile with all its turns
            if not held:
                fixed = True  # not brought back (nor created for turns deleted meanwhile)
                continue
            conn.execute(_INSERT_SEGMENT, _segment_row(s))
        if held != s.turns:
            _recount(conn, s.id)
            fixed = True
    if revised:
        conn.executemany("UPDATE tier_turns SET words = ? WHERE memory_id = ?", revised)
    if tiers.reindexed:
        conn.executemany(
            "UPDATE tier_turns SET vector = ? WHERE memory_id = ? AND segment_id IS NULL",
            [(_blob(new), mid) for mid, (_, new) in tiers.reindexed.items() if new is not None],
        )
        _shift(conn, tiers.reindexed)
    kept = [mid for mid, (_, new) in tiers.reindexed.items() if new is not None]  # a deleted one: _forget
    for sid in _segments_of(conn, [*(r[1] for r in revised), *kept]):
        _recount(conn, sid)
        fixed = True
    heated: dict[str, tuple[int, float]] = {}
    ids = list(tiers.retrieved)
    for start in range(0, len(ids), 500):  # last: a turn that moved in this write heats its new segment
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for mid, sid in conn.execute(
            f"SELECT memory_id, segment_id FROM tier_turns WHERE memory_id IN ({marks}) "
            "AND segment_id IS NOT NULL",
            chunk,
        ):
            count, at = tiers.retrieved[mid]
            old, last = heated.get(sid, (0, at))
            heated[sid] = (old + count, max(at, last))
    if heated:
        conn.executemany(
            "UPDATE segments SET retrievals = retrievals + ?, touched_at = max(touched_at, ?) WHERE id = ?",
            [(n, at, sid) for sid, (n, at) in heated.items()],
        )
    return heated, fixed


def _forget(conn: sqlite3.Connection, deletes: list[tuple[str]]) -> None:
    """Hard-deleted memories leave the hierarchy; their segments are recounted from the turns
    left (a segment left empty goes too)."""
    ids = [d[0] for d in deletes]
    touched = _segments_of(conn, ids)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        conn.execute(f"DELETE FROM tier_turns WHERE memory_id IN ({marks})", chunk)
    for sid in touched:
        _recount(conn, sid)


def _shift(conn: sqlite3.Connection, reindexed: Mapping[str, tuple[np.ndarray | None, ...]]) -> None:
    """Move the centroids of the segments these turns are in from their old index vectors to their
    new ones (a turn whose new vector is None leaves: it is being deleted). A centroid is the mean
    of its turns' unit vectors, and no vector of a turn in a segment is kept here, so the caller
    gives the old ones (None: unknown, left in). :func:`_recount` then makes it exact where the
    vector index's table is in this file; a vector index elsewhere leaves it at this."""
    sql = "SELECT memory_id, segment_id FROM tier_turns WHERE memory_id IN ({marks}) AND segment_id NOT NULL"
    members: dict[str, list[str]] = {}
    for mid, sid in _select(conn, sql, list(reindexed)):
        members.setdefault(sid, []).append(mid)
    for sid, mids in members.items():
        row = conn.execute("SELECT centroid FROM segments WHERE id = ?", (sid,)).fetchone()
        held = _held(conn, [sid]).get(sid, 0)
        if row is None or not held:
            continue
        total = _vector(row[0]) * held
        n = held
        for mid in mids:
            old, new = reindexed[mid]
            if old is None or old.size != total.size or (new is not None and new.size != total.size):
                continue  # unknown (or another model's): left as it is
            total = total - _unit(old)
            if new is None:
                n -= 1
            else:
                total = total + _unit(new)
        if n > 0:
            conn.execute("UPDATE segments SET centroid = ? WHERE id = ?", (_blob(total / n), sid))


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def _held(conn: sqlite3.Connection, segment_ids: Sequence[str]) -> dict[str, int]:
    """How many turns each of these segments holds (absent: none), one query per chunk."""
    sql = "SELECT segment_id, count(*) FROM tier_turns WHERE segment_id IN ({marks}) GROUP BY segment_id"
    return {sid: int(n) for sid, n in _select(conn, sql, segment_ids)}


def _segments_of(conn: sqlite3.Connection, memory_ids: Sequence[str]) -> set[str]:
    """The segments these turns are in."""
    sql = "SELECT segment_id FROM tier_turns WHERE memory_id IN ({marks}) AND segment_id IS NOT NULL"
    return {r[0] for r in _select(conn, sql, memory_ids)}


def _recount(conn: sqlite3.Connection, segment_id: str) -> bool:
    """Rebuild a segment from the turns it holds now (one left it, or changed): its turn count,
    keywords and label from their keywords, its centroid from their vectors. A segment left
    empty goes. Returns whether it is still there."""
    rows = conn.execute(
        "SELECT memory_id, words FROM tier_turns WHERE segment_id = ? ORDER BY seq", (segment_id,)
    ).fetchall()
    if not rows:
        conn.execute("DELETE FROM segments WHERE id = ?", (segment_id,))
        return False
    texts = _texts(conn, [mid for mid, kept in rows if kept is None])
    found: list[str] = []
    for mid, kept in rows:
        found.extend(json.loads(kept) if kept is not None else words(texts.get(mid, "")))
    kw = merge_counts((), found)
    centroid = _centroid(conn, [mid for mid, _ in rows])
    conn.execute(
        "UPDATE segments SET turns = ?, keywords = ?, label = ?, centroid = coalesce(?, centroid) "
        "WHERE id = ?",
        (len(rows), json.dumps(kw, ensure_ascii=False), label(kw), centroid, segment_id),
    )
    return True


def _select(conn: sqlite3.Connection, sql: str, ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """``sql`` (its ids as ``{marks}``) run over ``ids`` a chunk at a time."""
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        rows += conn.execute(sql.format(marks=",".join("?" * len(chunk))), chunk).fetchall()
    return rows


def _texts(conn: sqlite3.Connection, memory_ids: Sequence[str]) -> dict[str, str]:
    """The texts of these memories from the record store's table in this file: the keywords of
    turns that joined a segment before turns kept them there (none when records live elsewhere)."""
    if not memory_ids or not has_table(conn, "memories"):
        return {}
    return dict(_select(conn, "SELECT id, text FROM memories WHERE id IN ({marks})", memory_ids))


def _centroid(conn: sqlite3.Connection, memory_ids: Sequence[str]) -> bytes | None:
    """The mean of these turns' unit vectors (as the planner builds a centroid), from the vector
    index's table in this file; None when it holds none of them (or vectors live elsewhere)."""
    if not has_table(conn, "vectors"):
        return None
    sql = "SELECT vec FROM vectors WHERE memory_id IN ({marks})"
    found = [_vector(r[0]) for r in _select(conn, sql, memory_ids)]
    if not found:
        return None
    units = np.stack([v for v in found if v.size == found[0].size])
    norms = np.linalg.norm(units, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return _blob((units / norms).mean(axis=0))
