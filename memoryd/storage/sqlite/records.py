"""The embedded record store: memories, history and metadata in SQLite."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any

from memoryd.errors import StaleWriteError, StorageError
from memoryd.filters import EPISODES, Filter
from memoryd.models import Event, HistoryEntry, MemoryKind, MemoryRecord, Page, Scope, from_epoch
from memoryd.storage.base import ChangeSet, HistoryDraft
from memoryd.storage.events import AppliedRecord
from memoryd.storage.portable import IndexEntry
from memoryd.storage.resources import Resources
from memoryd.storage.sqlite import applied, changes
from memoryd.storage.sqlite.applied import EVERYONE, record_events, scope_key, user_key
from memoryd.storage.sqlite.database import SQLiteDatabase, execute_script, read_together
from memoryd.storage.sqlite.record_cache import RecordCache
from memoryd.storage.sqlite.selects import SelectCache
from memoryd.storage.sqlite.sqlfilter import compile_filter
from memoryd.wording import counted

__all__ = ["SQLiteRecordStore"]

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS memories (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT, agent_id TEXT, run_id TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    role TEXT, actor TEXT,
    source_ids TEXT NOT NULL DEFAULT '[]',
    event_time REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    hash TEXT NOT NULL,
    valid_from REAL NOT NULL,
    valid_to REAL
);
CREATE INDEX IF NOT EXISTS memories_user ON memories(user_id, created_at);
CREATE INDEX IF NOT EXISTS memories_user_kind ON memories(user_id, kind, created_at);
CREATE INDEX IF NOT EXISTS memories_agent ON memories(agent_id, created_at);
CREATE INDEX IF NOT EXISTS memories_run ON memories(run_id, created_at);
CREATE INDEX IF NOT EXISTS memories_hash ON memories(hash);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY,
    memory_id TEXT NOT NULL,
    event TEXT NOT NULL,
    old_text TEXT, new_text TEXT,
    actor TEXT NOT NULL,
    created_at REAL NOT NULL,
    details TEXT NOT NULL DEFAULT '{}',
    user_id TEXT, agent_id TEXT, run_id TEXT
);
CREATE INDEX IF NOT EXISTS history_memory ON history(memory_id, id);
CREATE TABLE IF NOT EXISTS applied_events (
    event_id TEXT PRIMARY KEY, digest TEXT NOT NULL, applied_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS applied_events_at ON applied_events(applied_at);
CREATE TABLE IF NOT EXISTS erased_users (user_key TEXT PRIMARY KEY, erased_at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS erased_on_queue (
    user_key TEXT PRIMARY KEY, mark_ms INTEGER NOT NULL, erased_at REAL NOT NULL
) WITHOUT ROWID;
"""

# Reads of at most this many rows through a key or an index run on the calling thread
# (:meth:`SQLiteDatabase.read` ``point``).
_POINT_ROWS = 256
# Filters that :meth:`SQLiteRecordStore.latest` answers by walking an index newest first.
_INDEXED: tuple[Filter | None, ...] = (None, EPISODES)

# Newest first, the order of :meth:`SQLiteRecordStore.page` and :meth:`SQLiteRecordStore.latest`.
_NEWEST_FIRST = "ORDER BY m.created_at DESC, m.rowid DESC"

_COLS = (
    "id, text, kind, user_id, agent_id, run_id, metadata, role, actor, source_ids, "
    "event_time, created_at, updated_at, hash, valid_from, valid_to"
)

# Every column but the id, set from a row as _memory_row makes it (its id moved to the end).
_SETS = ", ".join(f"{c.strip()} = ?" for c in _COLS.split(",")[1:])
_UPDATE_ROW = f"UPDATE memories SET {_SETS} WHERE id = ?"

DAMAGED_KEY = "memoryd_damaged"  # metadata of a row whose stored JSON cannot be read


# Rows :func:`_row_to_memory` cannot decode: an unknown kind, a time that is not a number.
_UNREADABLE = (
    "SELECT count(*), min(id) FROM memories WHERE kind NOT IN ({kinds}) "
    "OR typeof(created_at) NOT IN ('real', 'integer') OR typeof(updated_at) NOT IN ('real', 'integer') "
    "OR typeof(valid_from) NOT IN ('real', 'integer') "
    "OR typeof(event_time) NOT IN ('real', 'integer', 'null') "
    "OR typeof(valid_to) NOT IN ('real', 'integer', 'null')"
).format(kinds=", ".join(f"'{k.value}'" for k in MemoryKind))


def _json_fields(raw_metadata: Any, raw_sources: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A row's metadata and source ids. JSON that cannot be read (a damaged file, a bad manual
    edit) keeps the row readable: its stored text goes to ``metadata[DAMAGED_KEY]``, so search,
    export and a repair by re-import lose nothing (``memoryd check`` reports such rows)."""
    try:
        metadata, sources = json.loads(raw_metadata), json.loads(raw_sources)
        if isinstance(metadata, dict) and isinstance(sources, list):
            return metadata, tuple(sources)
    except (TypeError, ValueError):
        pass
    return {DAMAGED_KEY: {"metadata": str(raw_metadata), "source_ids": str(raw_sources)}}, ()


def _row_to_memory(row: Sequence[Any]) -> MemoryRecord:
    try:
        return _decode(row)
    except (TypeError, ValueError, OverflowError) as exc:  # a newer memoryd's kind, a damaged time
        raise StorageError(
            f"memory {row[0]} cannot be read by this memoryd ({exc}): the store was written by a "
            "newer version or is damaged; `memoryd check` lists such memories",
            repair="memoryd check",
        ) from exc


def _decode(row: Sequence[Any]) -> MemoryRecord:
    metadata, source_ids = _json_fields(row[6], row[9])
    return MemoryRecord(
        id=row[0],
        text=row[1],
        kind=MemoryKind(row[2]),
        user_id=row[3],
        agent_id=row[4],
        run_id=row[5],
        metadata=metadata,
        role=row[7],
        actor=row[8],
        source_ids=source_ids,
        event_time=from_epoch(row[10]),
        created_at=from_epoch(row[11]),  # type: ignore[arg-type]
        updated_at=from_epoch(row[12]),  # type: ignore[arg-type]
        hash=row[13],
        valid_from=from_epoch(row[14]),  # type: ignore[arg-type]
        valid_to=from_epoch(row[15]),
    )


def _update_rows(conn: sqlite3.Connection, updates: list[tuple[Any, ...]]) -> None:
    """Rewrite stored memories (each row: every column but the id, then the id); a memory that is
    gone fails the whole write (:class:`StaleWriteError`): what was planned from it is stale."""
    changed = conn.executemany(_UPDATE_ROW, updates).rowcount
    if changed == len(updates):
        return
    ids = [u[-1] for u in updates]
    marks = ",".join("?" * len(ids))
    present = {r[0] for r in conn.execute(f"SELECT id FROM memories WHERE id IN ({marks})", ids)}
    gone = [i for i in ids if i not in present]
    raise StaleWriteError(
        f"memory {gone[0]!r} was deleted by another writer while this write was prepared; nothing of "
        "it was stored: retry",
        field="memory_id",
    )


def _memory_row(m: MemoryRecord) -> tuple[Any, ...]:
    return (
        m.id,
        m.text,
        m.kind.value,
        m.user_id,
        m.agent_id,
        m.run_id,
        json.dumps(m.metadata, ensure_ascii=False),
        m.role,
        m.actor,
        json.dumps(list(m.source_ids)),
        m.event_time.timestamp() if m.event_time else None,
        m.created_at.timestamp(),
        m.updated_at.timestamp(),
        m.hash,
        m.valid_from.timestamp(),
        m.valid_to.timestamp() if m.valid_to else None,
    )


def scope_sql(scope: Scope, table: str = "m") -> tuple[str, list[Any]]:
    parts = [f"{table}.{k} = ?" for k, _ in scope.items()]
    return (" AND ".join(parts) or "1"), [v for _, v in scope.items()]


def validity_sql(as_of: datetime | None, include_expired: bool, table: str = "m") -> tuple[str, list[Any]]:
    if as_of is not None:
        t = as_of.timestamp()
        return f"({table}.valid_from <= ? AND ({table}.valid_to IS NULL OR {table}.valid_to > ?))", [t, t]
    if include_expired:
        return "1", []
    return f"{table}.valid_to IS NULL", []


def _check_schema(conn: sqlite3.Connection, path: Any) -> None:
    """Refuse a store whose file a newer memoryd laid out (or that says no version it knows):
    this version's writes could corrupt what it does not know. An older layout is this one's
    (tables and indexes added since are created when missing)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is None:
        return  # a new store
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    found = None if row is None else str(row[0])
    if found is None or (found.isdigit() and int(found) <= int(SCHEMA_VERSION)):
        return
    raise StorageError(
        f"the store {path} has schema version {found!r}, written by a newer memoryd (this version "
        f"reads up to {SCHEMA_VERSION}): upgrade memoryd, or open a backup made by this version; "
        "the file was not changed",
        field="storage.path",
    )


class SQLiteRecordStore:
    """Memories and their history in the shared SQLite file."""

    def __init__(self, db: SQLiteDatabase, *, cache_size: int = 50_000) -> None:
        self.db = db
        self.cache = RecordCache(cache_size)
        self.selects = SelectCache()
        db.watch(lambda changed, _: self.cache.foreign(changed))
        db.watch(lambda changed, _: self.selects.foreign(changed))

    @classmethod
    def from_resources(cls, resources: Resources) -> SQLiteRecordStore:
        return cls(resources.sqlite(), cache_size=resources.settings.storage.record_cache)

    async def open(self) -> None:
        self.db.open()

        def create(conn: sqlite3.Connection) -> None:
            _check_schema(conn, self.db.path)  # before this version's CREATEs touch a newer layout
            execute_script(conn, _SCHEMA)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))

        await self.db.write(create)

    async def close(self) -> None:
        self.db.close()

    def transaction(self) -> Any:
        return self.db.transaction()

    def snapshot(self) -> Any:
        """Reads in the block see one state of the file (:meth:`SQLiteDatabase.snapshot`)."""
        return self.db.snapshot()

    def before_commit(self, step: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self.db.before_commit(step)

    def after_commit(self, hook: Callable[[], None]) -> None:
        self.db.after_commit(hook)

    async def apply(self, changes: ChangeSet) -> None:
        rows = [_memory_row(s.memory) for s in changes.upserts if not s.existing]
        # A change of a stored memory: an UPDATE, never an insert that would bring back one another
        # writer deleted since it was read (with no vector or keyword entry to find it by).
        updates = [(*_memory_row(s.memory)[1:], s.memory.id) for s in changes.upserts if s.existing]
        deletes = [(i,) for i in changes.deletes]
        history = [
            (
                h.memory_id,
                h.event.value,
                h.old_text,
                h.new_text,
                h.actor,
                h.created_at.timestamp(),
                json.dumps(h.details, ensure_ascii=False),
                h.scope.user_id,
                h.scope.agent_id,
                h.scope.run_id,
            )
            for h in changes.history
        ]

        events = list(changes.events)

        def op(conn: sqlite3.Connection) -> None:
            if events:
                record_events(conn, events)
            if rows:
                conn.executemany(
                    f"INSERT INTO memories ({_COLS}) VALUES ({', '.join('?' * 16)}) "
                    "ON CONFLICT(id) DO UPDATE SET text=excluded.text, kind=excluded.kind, "
                    "user_id=excluded.user_id, agent_id=excluded.agent_id, run_id=excluded.run_id, "
                    "metadata=excluded.metadata, role=excluded.role, actor=excluded.actor, "
                    "source_ids=excluded.source_ids, event_time=excluded.event_time, "
                    "updated_at=excluded.updated_at, hash=excluded.hash, "
                    "valid_from=excluded.valid_from, valid_to=excluded.valid_to",
                    rows,
                )
            if updates:
                _update_rows(conn, updates)
            if deletes:
                conn.executemany("DELETE FROM memories WHERE id = ?", deletes)
            if history:
                conn.executemany(
                    "INSERT INTO history (memory_id, event, old_text, new_text, actor, created_at, details, "
                    "user_id, agent_id, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    history,
                )

        touched = [s.memory.id for s in changes.upserts] + list(changes.deletes)
        changed = [s.memory for s in changes.upserts]

        def after() -> None:
            self.cache.forget(touched)
            self.selects.forget(changed, changes.deletes)

        await self.db.write(op, after_commit=after)

    def _lookup(self, ids: list[str], *, shared: bool) -> tuple[dict[str, MemoryRecord], list[str], int]:
        self.db.catch_up()  # drops what another process changed
        return self.cache.lookup(ids, shared=shared)

    async def get_many(self, ids: Sequence[str], *, shared: bool = False) -> dict[str, MemoryRecord]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        found, missing, version = self._lookup(wanted, shared=shared)
        if not missing:
            return found

        def op(conn: sqlite3.Connection) -> dict[str, MemoryRecord]:
            out: dict[str, MemoryRecord] = {}
            for start in range(0, len(missing), 500):
                chunk = missing[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(f"SELECT {_COLS} FROM memories WHERE id IN ({marks})", chunk):
                    out[row[0]] = _row_to_memory(row)
            return out

        loaded = await self.db.read(op, point=len(missing) <= _POINT_ROWS)
        self.cache.store(loaded, version)
        found.update(loaded)
        return {i: found[i] for i in wanted if i in found}

    async def held(self, ids: Sequence[str], scope: Scope | None = None) -> set[str]:
        wanted = list(dict.fromkeys(ids))
        s_sql, s_params = scope_sql(scope or Scope())

        def op(conn: sqlite3.Connection) -> set[str]:
            out: set[str] = set()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                sql = f"SELECT m.id FROM memories m WHERE m.id IN ({','.join('?' * len(chunk))}) AND {s_sql}"
                out.update(row[0] for row in conn.execute(sql, [*chunk, *s_params]))
            return out

        return await self.db.read(op) if wanted else set()

    async def applied(self, event_ids: Sequence[str]) -> dict[str, str]:
        return {k: record.digest for k, record in (await self.applied_records(event_ids)).items()}

    async def applied_records(self, event_ids: Sequence[str]) -> dict[str, AppliedRecord]:
        wanted = list(dict.fromkeys(event_ids))

        def op(conn: sqlite3.Connection) -> dict[str, AppliedRecord]:
            out: dict[str, AppliedRecord] = {}
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT event_id, digest, applied_at FROM applied_events WHERE event_id IN ({marks})"
                out.update((r[0], AppliedRecord(r[1], r[2])) for r in conn.execute(sql, chunk))
            return out

        return await self.db.read(op, point=True) if wanted else {}

    async def find_duplicates(
        self, scope: Scope, hashes: Sequence[str]
    ) -> dict[tuple[str, str | None, str | None], str]:
        wanted = list(dict.fromkeys(hashes))
        if not wanted:
            return {}
        exact = [f"m.{k} IS ?" for k in ("user_id", "agent_id", "run_id")]
        values = [scope.user_id, scope.agent_id, scope.run_id]

        def op(conn: sqlite3.Connection) -> dict[tuple[str, str | None, str | None], str]:
            out: dict[tuple[str, str | None, str | None], str] = {}
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                sql = (
                    f"SELECT m.hash, m.role, m.actor, m.id FROM memories m INDEXED BY memories_hash "
                    f"WHERE m.hash IN ({','.join('?' * len(chunk))}) AND {' AND '.join(exact)} "
                    "AND m.valid_to IS NULL"
                )
                for h, role, actor, mid in conn.execute(sql, [*chunk, *values]):
                    out.setdefault((h, role, actor), mid)
            return out

        return await self.db.read(op, point=len(wanted) <= _POINT_ROWS)

    async def with_hashes(self, scope: Scope, hashes: Sequence[str]) -> list[str]:
        wanted = list(dict.fromkeys(hashes))
        if not wanted:
            return []
        s_sql, s_params = scope_sql(scope)

        def op(conn: sqlite3.Connection) -> list[str]:
            out: list[str] = []
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                sql = (
                    f"SELECT m.id FROM memories m INDEXED BY memories_hash WHERE m.hash IN "
                    f"({','.join('?' * len(chunk))}) AND {s_sql}"
                )
                out.extend(row[0] for row in conn.execute(sql, [*chunk, *s_params]))
            return out

        return await self.db.read(op, point=len(wanted) <= _POINT_ROWS)

    def _where(
        self, scope: Scope, where: Filter | None, as_of: datetime | None, include_expired: bool
    ) -> tuple[str, list[Any]]:
        s_sql, s_params = scope_sql(scope)
        v_sql, v_params = validity_sql(as_of, include_expired)
        f_sql, f_params = compile_filter(where)
        return f"{s_sql} AND {v_sql} AND {f_sql}", [*s_params, *v_params, *f_params]

    async def page(
        self,
        scope: Scope,
        where: Filter | None,
        *,
        limit: int,
        offset: int,
        as_of: datetime | None = None,
        include_expired: bool = False,
    ) -> Page:
        clause, params = self._where(scope, where, as_of, include_expired)

        def op(conn: sqlite3.Connection) -> Page:
            with read_together(conn):  # the total counts the listing the page is of
                total = conn.execute(f"SELECT count(*) FROM memories m WHERE {clause}", params).fetchone()[0]
                rows = conn.execute(
                    f"SELECT {_COLS} FROM memories m WHERE {clause} {_NEWEST_FIRST} LIMIT ? OFFSET ?",
                    [*params, limit, offset],
                ).fetchall()
            return Page([_row_to_memory(r) for r in rows], total, offset, limit)

        return await self.db.read(op)

    async def neighbours(
        self, scope: Scope, where: Filter | None, memory_id: str
    ) -> tuple[MemoryRecord | None, MemoryRecord | None]:
        clause, params = self._where(scope, where, None, False)

        def op(conn: sqlite3.Connection) -> tuple[MemoryRecord | None, MemoryRecord | None]:
            at = conn.execute("SELECT created_at, rowid FROM memories WHERE id = ?", (memory_id,)).fetchone()
            if at is None:
                return None, None
            out: list[MemoryRecord | None] = []
            for cmp, direction in (("<", "DESC"), (">", "ASC")):  # keyed: one index probe each way
                row = conn.execute(
                    f"SELECT {_COLS} FROM memories m WHERE {clause} AND (m.created_at, m.rowid) {cmp} (?, ?) "
                    f"ORDER BY m.created_at {direction}, m.rowid {direction} LIMIT 1",
                    [*params, *at],
                ).fetchone()
                out.append(_row_to_memory(row) if row is not None else None)
            return out[0], out[1]

        return await self.db.read(op, point=True)

    async def latest(self, scope: Scope, where: Filter | None, *, limit: int) -> list[MemoryRecord]:
        clause, params = self._where(scope, where, None, False)

        def op(conn: sqlite3.Connection) -> list[MemoryRecord]:
            rows = conn.execute(
                f"SELECT {_COLS} FROM memories m WHERE {clause} {_NEWEST_FIRST} LIMIT ?",
                [*params, limit],
            )
            return [_row_to_memory(r) for r in rows]

        # newest first through a (scope, created_at) index: a point read when few are wanted
        return await self.db.read(op, point=limit <= _POINT_ROWS and where in _INDEXED)

    async def select_ids(
        self,
        scope: Scope,
        where: Filter | None,
        *,
        as_of: datetime | None = None,
        include_expired: bool = False,
        cap: int = 1_000_000,
    ) -> list[str]:
        key = None if as_of is not None else SelectCache.key(scope, where, include_expired, cap)
        if key is not None:
            self.db.catch_up()
            kept, version = self.selects.lookup(key)
            if kept is not None:
                return kept
        clause, params = self._where(scope, where, as_of, include_expired)

        def op(conn: sqlite3.Connection) -> list[str]:
            sql = f"SELECT m.id FROM memories m WHERE {clause}"
            ids = [r[0] for r in conn.execute(f"{sql} LIMIT ?", [*params, cap + 1])]
            if len(ids) > cap:  # over the cap (rare): the most recently updated, not index order
                newest = conn.execute(f"{sql} ORDER BY m.updated_at DESC LIMIT ?", [*params, cap])
                ids = [r[0] for r in newest]
            return ids

        ids = await self.db.read(op)
        if key is not None:
            self.selects.store(key, scope, where, include_expired, ids, version)
        return ids

    async def history(self, memory_id: str, scope: Scope | None = None) -> list[HistoryEntry]:
        s_sql, s_params = scope_sql(scope or Scope(), "history")

        def op(conn: sqlite3.Connection) -> list[HistoryEntry]:
            rows = conn.execute(
                "SELECT id, memory_id, event, old_text, new_text, actor, created_at, details "
                f"FROM history WHERE memory_id = ? AND {s_sql} ORDER BY id",
                (memory_id, *s_params),
            )
            return [
                HistoryEntry(r[0], r[1], Event(r[2]), r[3], r[4], r[5], from_epoch(r[6]), json.loads(r[7]))  # type: ignore[arg-type]
                for r in rows
            ]

        return await self.db.read(op)

    async def mark_erased(self, user_id: str | None, at: datetime, queue_ms: int | None = None) -> None:
        key, when = (EVERYONE if user_id is None else user_key(user_id)), at.timestamp()

        def op(conn: sqlite3.Connection) -> None:
            applied.mark_erased(conn, key, when)
            if queue_ms is not None:  # see _erased; erased_users still says it to an older worker
                conn.execute(
                    "INSERT INTO erased_on_queue (user_key, mark_ms, erased_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(user_key) DO UPDATE SET mark_ms = max(mark_ms, excluded.mark_ms), "
                    "erased_at = max(erased_at, excluded.erased_at)",
                    (key, queue_ms, when),
                )

        await self.db.write(op)

    async def mark_deleted_scope(self, scope: Scope, at: datetime) -> None:
        key = scope_key(scope.user_id, scope.agent_id, scope.run_id)

        def op(conn: sqlite3.Connection) -> None:
            applied.mark_erased(conn, key, at.timestamp())
            applied.prune_now_and_then(conn, at.timestamp())  # one mark per scope deleted: pruned too

        await self.db.write(op)

    async def purge_history(self, scope: Scope, memory_ids: Sequence[str] = ()) -> int:
        s_sql, s_params = scope_sql(scope.require(), "history")
        ids = list(dict.fromkeys(memory_ids))

        def op(conn: sqlite3.Connection) -> int:
            n = conn.execute(f"DELETE FROM history WHERE {s_sql}", s_params).rowcount
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                n += conn.execute(f"DELETE FROM history WHERE memory_id IN ({marks})", chunk).rowcount
            return int(n)

        removed = await self.db.write(op)
        return int(removed or 0)

    async def forget_changes(self) -> None:
        await self.db.write(changes.forget_all)

    async def erase_traces(self) -> bool:
        # Deleted rows are overwritten as they go (secure_delete); the WAL's older pages are not.
        return await self.db.truncate_wal()

    async def stats(self) -> dict[str, Any]:
        self.db.check_file()  # /health: a store whose file is gone is down, whatever it still reads

        def op(conn: sqlite3.Connection) -> dict[str, Any]:
            memories, current = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE valid_to IS NULL) FROM memories"
            ).fetchone()
            users = conn.execute("SELECT count(DISTINCT user_id) FROM memories").fetchone()[0]
            history = conn.execute("SELECT count(*) FROM history").fetchone()[0]
            return {
                "memories": memories,
                "current": current,
                "users": users,
                "history": history,
                "path": str(self.db.path),
            }

        return await self.db.read(op)

    async def get_meta(self, key: str) -> str | None:
        def op(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return None if row is None else str(row[0])

        return await self.db.read(op)

    async def setdefault_meta(self, key: str, value: str) -> str:
        def op(conn: sqlite3.Connection) -> str:
            conn.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))
            return str(conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

        return str(await self.db.write(op))

    async def set_meta(self, key: str, value: str) -> None:
        await self.db.write(
            lambda conn: conn.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, value),
            )
        )

    async def reset(self) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM memories")
            conn.execute("DELETE FROM history")
            conn.execute("DELETE FROM applied_events")
            # Erased users go (the reset erased them all), but not the reset's own mark, recorded
            # before it (mark_erased(None)): an event made before it stays refused.
            conn.execute("DELETE FROM erased_users WHERE user_key != ?", (EVERYONE,))
            conn.execute("DELETE FROM erased_on_queue WHERE user_key != ?", (EVERYONE,))

        def after() -> None:
            self.cache.clear()
            self.selects.clear()

        await self.db.write(op, after_commit=after)

    # -- listing and checking (export, import, memoryd check) -------------------
    async def scan(
        self,
        scope: Scope,
        *,
        after: str | None = None,
        limit: int = 1000,
        unreadable: list[str] | None = None,
    ) -> tuple[list[MemoryRecord], str | None]:
        s_sql, s_params = scope_sql(scope)
        if scope.is_empty:  # the whole store: the primary key, in the order written
            last = int(after) if after else 0
            sql = f"SELECT rowid, {_COLS} FROM memories m WHERE m.rowid > ? ORDER BY m.rowid LIMIT ?"
            params: list[Any] = [last, limit]
        else:  # a scope: its (field, created_at) index, by creation time then rowid
            t, _, r = (after or "").partition(":")
            sql = (
                f"SELECT rowid, {_COLS} FROM memories m WHERE {s_sql} AND (m.created_at, m.rowid) > (?, ?) "
                "ORDER BY m.created_at, m.rowid LIMIT ?"
            )
            params = [*s_params, float(t) if t else float("-inf"), int(r or 0), limit]

        def op(conn: sqlite3.Connection) -> tuple[list[MemoryRecord], str | None]:
            rows = conn.execute(sql, params).fetchall()
            if len(rows) < limit:
                cursor = None
            elif scope.is_empty:
                cursor = str(rows[-1][0])
            else:
                cursor = f"{rows[-1][12]!r}:{rows[-1][0]}"
            if unreadable is None:
                return [_row_to_memory(r[1:]) for r in rows], cursor
            out = []
            for r in rows:
                try:
                    out.append(_row_to_memory(r[1:]))
                except StorageError:
                    unreadable.append(str(r[1]))
            return out, cursor

        return await self.db.read(op)

    async def scan_history(
        self, scope: Scope, *, after: str | None = None, limit: int = 1000
    ) -> tuple[list[HistoryDraft], str | None]:
        s_sql, s_params = scope_sql(scope, "history")

        def op(conn: sqlite3.Connection) -> tuple[list[HistoryDraft], str | None]:
            rows = conn.execute(
                "SELECT id, memory_id, event, old_text, new_text, actor, created_at, details, user_id, "
                f"agent_id, run_id FROM history WHERE {s_sql} AND id > ? ORDER BY id LIMIT ?",
                [*s_params, int(after or 0), limit],
            ).fetchall()
            drafts = [
                HistoryDraft(
                    r[1], Event(r[2]), r[3], r[4], r[5], from_epoch(r[6]), json.loads(r[7]), Scope(*r[8:11])  # type: ignore[arg-type]
                )
                for r in rows
            ]
            return drafts, (str(rows[-1][0]) if len(rows) == limit else None)

        return await self.db.read(op)

    async def last_history_id(self) -> int:
        def op(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT coalesce(max(id), 0) FROM history").fetchone()[0])

        return await self.db.read(op)

    async def entries(self, *, after: str | None = None, limit: int = 1000) -> list[IndexEntry]:
        def op(conn: sqlite3.Connection) -> list[IndexEntry]:
            rows = conn.execute(
                "SELECT id, user_id, agent_id, run_id, valid_to FROM memories WHERE id > ? "
                "ORDER BY id LIMIT ?",
                (after or "", limit),
            )
            return [IndexEntry(r[0], r[1], r[2], r[3], from_epoch(r[4])) for r in rows]

        return await self.db.read(op)

    async def check(self) -> list[str]:
        def op(conn: sqlite3.Connection) -> list[str]:
            problems = [
                f"SQLite integrity check: {row[0]}"
                for row in conn.execute("PRAGMA integrity_check(20)")
                if row[0] != "ok"
            ]
            count, example = conn.execute(
                "SELECT count(*), min(id) FROM memories "
                "WHERE NOT json_valid(metadata) OR NOT json_valid(source_ids)"
            ).fetchone()
            if count:
                has = counted(count, "memory has", "memories have")
                problems.append(f"{has} unreadable metadata or source ids (e.g. {example})")
            count, example = conn.execute(_UNREADABLE).fetchone()
            if count:
                problems.append(
                    f"{counted(count, 'memory has', 'memories have')} a kind or time this memoryd cannot "
                    f"read (e.g. {example}): "
                    "written by a newer memoryd (upgrade it) or damaged (restore the store from a backup)"
                )
            count, example = conn.execute(
                "SELECT count(DISTINCT h.memory_id), min(h.memory_id) FROM history h "
                "WHERE NOT EXISTS (SELECT 1 FROM memories m WHERE m.id = h.memory_id) AND NOT EXISTS "
                "(SELECT 1 FROM history d WHERE d.memory_id = h.memory_id AND d.event = 'DELETE')"
            ).fetchone()
            if count:
                which = "memory that neither exists nor was"
                if count > 1:
                    which = "memories that neither exist nor were"
                problems.append(f"history of {count} {which} deleted (e.g. {example})")
            return problems

        return await self.db.read(op)
