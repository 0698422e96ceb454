"""The embedded keyword index: terms durable in SQLite FTS5, BM25 ranked per scope.

Text is tokenised in Python (:mod:`memoryd.text`, which segments Chinese) and
stored as space-separated terms in an FTS5 table, written in the same
transaction as the memory. Searches are served from an in-memory BM25 index of
the queried scope (:mod:`memoryd.storage.sqlite.bm25`), loaded from these rows
once and refreshed on every commit: ranking FTS5's ``bm25()`` over every match
took 180 ms for a 100,000-memory user in our measurements, the in-memory index
a few milliseconds, with the scope's own document statistics.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from memoryd.models import Scope, from_epoch
from memoryd.storage.base import ChangeSet
from memoryd.storage.portable import IndexEntry
from memoryd.storage.resources import Resources
from memoryd.storage.sqlite import changes as changes_log
from memoryd.storage.sqlite.bm25 import BM25Partition
from memoryd.storage.sqlite.database import SQLiteDatabase, holds_rows_without
from memoryd.storage.sqlite.gone_index import index_gone
from memoryd.storage.sqlite.partitions import PartitionCache, PartitionKey, partition_key
from memoryd.storage.sqlite.rows import RowStub
from memoryd.storage.sqlite.vectors import OFFLOAD_ROWS

__all__ = ["SQLiteKeywordIndex"]

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS kw_docs (rowid INTEGER PRIMARY KEY, memory_id TEXT NOT NULL UNIQUE, "
    "user_id TEXT, agent_id TEXT, run_id TEXT, valid_to REAL)",
    "CREATE INDEX IF NOT EXISTS kw_docs_user ON kw_docs(user_id)",
    "CREATE INDEX IF NOT EXISTS kw_docs_agent ON kw_docs(agent_id)",
    "CREATE INDEX IF NOT EXISTS kw_docs_run ON kw_docs(run_id)",
    'CREATE VIRTUAL TABLE IF NOT EXISTS kw USING fts5(body, tokenize = "unicode61 remove_diacritics 0")',
]


def _reread(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, tuple[RowStub, list[str]]]:
    """The current entries of these memories (another process wrote them)."""
    out: dict[str, tuple[RowStub, list[str]]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for memory_id, user_id, agent_id, run_id, valid_to, body in conn.execute(
            "SELECT d.memory_id, d.user_id, d.agent_id, d.run_id, d.valid_to, kw.body FROM kw_docs d "
            f"JOIN kw ON kw.rowid = d.rowid WHERE d.memory_id IN ({','.join('?' * len(chunk))})",
            chunk,
        ):
            out[memory_id] = (RowStub(memory_id, user_id, agent_id, run_id, valid_to), body.split())
    return out


_SHADOWS = ("kw_data", "kw_idx", "kw_content", "kw_docsize", "kw_config")  # FTS5's own tables of kw


def _drop_fts(conn: sqlite3.Connection) -> None:
    """Drop the FTS5 table, damaged or not. ``DROP TABLE`` must construct a virtual table to drop
    it, which a damaged one refuses ("vtable constructor failed": its structure record or its
    config row is gone or garbled); then its schema row is removed by hand (``writable_schema``,
    the schema's version moved on so every connection reads the schema again) and its shadow
    tables are dropped as the plain tables they are."""
    try:
        conn.execute("DROP TABLE IF EXISTS kw")
        return
    except sqlite3.DatabaseError:
        pass
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema=ON")
    try:
        conn.execute("DELETE FROM sqlite_master WHERE type = 'table' AND name = 'kw'")
    finally:
        conn.execute("PRAGMA writable_schema=OFF")
    conn.execute(f"PRAGMA schema_version={int(version) + 1}")
    for shadow in _SHADOWS:
        conn.execute(f"DROP TABLE IF EXISTS {shadow}")


class SQLiteKeywordIndex:
    """BM25 keyword search over terms kept in the shared SQLite file."""

    def __init__(self, db: SQLiteDatabase, *, cache_bytes: int = 1 << 30) -> None:
        self.db = db
        self.cache: PartitionCache[BM25Partition] = PartitionCache(
            self._load, cache_bytes, db, reread=_reread
        )

    @classmethod
    def from_resources(cls, resources: Resources) -> SQLiteKeywordIndex:
        return cls(resources.sqlite(), cache_bytes=resources.settings.storage.vector_cache_mb << 19)

    async def open(self, *, rebuild: bool = False) -> None:
        self.db.open()

        def create(conn: sqlite3.Connection) -> bool:
            if rebuild:
                _drop_fts(conn)
                conn.execute("DROP TABLE IF EXISTS kw_docs")
            elif holds_rows_without(conn, ("kw", "kw_docs")):
                return False  # memories without their index: never recreate it empty
            for statement in _SCHEMA:
                conn.execute(statement)
            return True

        if not await self.db.write(create):
            raise index_gone("keywords", str(self.db.path))
        self.cache.clear()

    async def close(self) -> None:
        self.cache.clear()
        self.db.close()

    async def apply(self, changes: ChangeSet) -> None:
        upserts = [
            (
                s.memory.id,
                s.memory.user_id,
                s.memory.agent_id,
                s.memory.run_id,
                s.memory.valid_to.timestamp() if s.memory.valid_to else None,
                None if s.terms is None else " ".join(s.terms),
            )
            for s in changes.upserts
        ]
        deletes = list(changes.deletes)
        if not upserts and not deletes:
            return

        def op(conn: sqlite3.Connection) -> None:
            # The documents' rows first, the full-text rows after, in two statements: a statement
            # on kw_docs (which has triggers: memoryd.storage.sqlite.changes) opens a savepoint,
            # and FTS5 writes out what it buffered at each one: interleaved, a segment per row.
            stale: set[int] = set()  # full-text rows whose text goes
            fresh: dict[int, str] = {}  # and the texts that come
            touched = []  # for other processes' caches
            for memory_id in deletes:
                row = conn.execute(
                    "DELETE FROM kw_docs WHERE memory_id = ? RETURNING rowid, user_id, agent_id, run_id",
                    (memory_id,),
                ).fetchone()
                if row is not None:
                    stale.add(row[0])
                    touched.append((row[1], row[2], row[3], memory_id))
            for memory_id, user_id, agent_id, run_id, valid_to, body in upserts:
                row = conn.execute("SELECT rowid FROM kw_docs WHERE memory_id = ?", (memory_id,)).fetchone()
                if row is None:
                    if body is None:
                        continue  # nothing indexed for it yet
                    rowid = conn.execute(
                        "INSERT INTO kw_docs (memory_id, user_id, agent_id, run_id, valid_to) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (memory_id, user_id, agent_id, run_id, valid_to),
                    ).lastrowid
                    assert rowid is not None
                    fresh[rowid] = body  # a rowid deleted above may come back: its old text is stale
                    continue
                conn.execute(
                    "UPDATE kw_docs SET user_id=?, agent_id=?, run_id=?, valid_to=? WHERE rowid=?",
                    (user_id, agent_id, run_id, valid_to, row[0]),
                )
                if body is not None:
                    stale.add(row[0])
                    fresh[row[0]] = body
            conn.executemany("DELETE FROM kw WHERE rowid = ?", [(r,) for r in sorted(stale)])
            conn.executemany("INSERT INTO kw (rowid, body) VALUES (?, ?)", list(fresh.items()))
            changes_log.touch(conn, touched + [(u[1], u[2], u[3], u[0]) for u in upserts])

        refresh = [(s.memory, None if s.terms is None else list(s.terms)) for s in changes.upserts]
        await self.db.write(op, after_commit=lambda: self.cache.refresh(refresh, deletes))

    async def _load(self, key: PartitionKey) -> BM25Partition:
        field, value = key

        def load(conn: sqlite3.Connection) -> BM25Partition:
            rows = conn.execute(
                "SELECT d.memory_id, d.user_id, d.agent_id, d.run_id, d.valid_to, kw.body "
                f"FROM kw_docs d JOIN kw ON kw.rowid = d.rowid WHERE d.{field} = ? ORDER BY d.rowid",
                (value,),
            )
            docs = [(RowStub(i, u, a, r, v), body.split()) for i, u, a, r, v, body in rows]
            return BM25Partition.loaded(docs)  # type: ignore[arg-type]

        return await self.db.read(load)

    async def search(
        self, terms: Sequence[str], *, scope: Scope, limit: int, allowed: set[str] | None = None
    ) -> list[tuple[str, float]]:
        if not terms or limit <= 0 or (allowed is not None and not allowed):
            return []
        part = await self.cache.get(partition_key(scope))

        def run() -> list[tuple[str, float]]:
            with self.cache.lock:
                return part.search(terms, scope, limit, allowed)

        if part.rows.n < OFFLOAD_ROWS:
            return run()  # microseconds: cheaper than a thread hop
        return await self.db.offload(run)

    async def reset(self) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM kw")
            conn.execute("DELETE FROM kw_docs")
            changes_log.touch_everything(conn)

        await self.db.write(op, after_commit=self.cache.clear)

    async def compact(self) -> None:
        # FTS5 deletes leave their terms in older index segments until a merge: forgetting a
        # user must not leave their words behind (cost: one rewrite of the FTS index).
        await self.db.write(lambda conn: conn.execute("INSERT INTO kw(kw) VALUES ('optimize')"))

    # -- listing and checking (export, memoryd check) -----------------------------
    async def terms(self, ids: Sequence[str]) -> dict[str, list[str]]:
        wanted = list(dict.fromkeys(ids))

        def op(conn: sqlite3.Connection) -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                for memory_id, body in conn.execute(
                    "SELECT d.memory_id, kw.body FROM kw_docs d JOIN kw ON kw.rowid = d.rowid "
                    f"WHERE d.memory_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                ):
                    out[memory_id] = body.split()
            return out

        return await self.db.read(op)

    async def entries(self, *, after: str | None = None, limit: int = 1000) -> list[IndexEntry]:
        def op(conn: sqlite3.Connection) -> list[IndexEntry]:
            rows = conn.execute(
                "SELECT memory_id, user_id, agent_id, run_id, valid_to FROM kw_docs WHERE memory_id > ? "
                "ORDER BY memory_id LIMIT ?",
                (after or "", limit),
            )
            return [IndexEntry(r[0], r[1], r[2], r[3], from_epoch(r[4])) for r in rows]

        return await self.db.read(op)

    async def check(self) -> list[str]:
        def op(conn: sqlite3.Connection) -> list[str]:
            problems: list[str] = []
            try:  # FTS5's own check of its index against its content (a write statement)
                conn.execute("INSERT INTO kw(kw) VALUES ('integrity-check')")
            except sqlite3.DatabaseError as exc:
                problems.append(f"the keyword (FTS5) index is damaged: {exc}")
                return problems
            docs = conn.execute(
                "SELECT count(*), min(d.memory_id) FROM kw_docs d WHERE NOT EXISTS "
                "(SELECT 1 FROM kw WHERE kw.rowid = d.rowid)"
            ).fetchone()
            if docs[0]:
                has = "entry has" if docs[0] == 1 else "entries have"
                problems.append(f"{docs[0]} keyword {has} no terms (e.g. memory {docs[1]})")
            stray = conn.execute(
                "SELECT count(*) FROM kw WHERE rowid NOT IN (SELECT rowid FROM kw_docs)"
            ).fetchone()[0]
            if stray:
                belong = "row belongs" if stray == 1 else "rows belong"
                problems.append(f"{stray} keyword {belong} to no memory")
            return problems

        return await self.db.write(op)  # type: ignore[no-any-return]

