"""The embedded keyword index: SQLite FTS5 ranked with BM25.

Text is tokenised in Python (:mod:`memoryd.text`, which segments Chinese) and
stored as space-separated terms, so FTS5 only splits on spaces. A second FTS
column holds scope tokens (hashed user/agent/run ids and a ``cur`` marker for
current memories); queries intersect them with the terms, so a search touches
one user's postings, not the whole table.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from memoryd.models import MemoryRecord, Scope
from memoryd.storage.base import ChangeSet
from memoryd.storage.resources import Resources
from memoryd.storage.sqlite.database import SQLiteDatabase

__all__ = ["SQLiteKeywordIndex", "scope_tokens"]

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS kw_docs (rowid INTEGER PRIMARY KEY, memory_id TEXT NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS kw USING fts5(scope, body, "
    "tokenize = \"unicode61 remove_diacritics 0 separators ' '\")",
]
_PREFIX = {"user_id": "u", "agent_id": "a", "run_id": "r"}


def _token(field: str, value: str) -> str:
    return _PREFIX[field] + hashlib.blake2b(value.encode("utf-8"), digest_size=10).hexdigest()


def scope_tokens(memory: MemoryRecord) -> str:
    parts = [_token(k, v) for k, v in memory.scope.items()]
    if memory.is_current:
        parts.append("cur")
    return " ".join(parts)


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


class SQLiteKeywordIndex:
    """BM25 keyword search over FTS5 in the shared SQLite file."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    @classmethod
    def from_resources(cls, resources: Resources) -> SQLiteKeywordIndex:
        return cls(resources.sqlite())

    async def open(self) -> None:
        self.db.open()

        def create(conn: sqlite3.Connection) -> None:
            for statement in _SCHEMA:
                conn.execute(statement)

        await self.db.write(create)

    async def close(self) -> None:
        self.db.close()

    async def apply(self, changes: ChangeSet) -> None:
        upserts = [
            (s.memory.id, scope_tokens(s.memory), None if s.terms is None else " ".join(s.terms))
            for s in changes.upserts
        ]
        deletes = list(changes.deletes)
        if not upserts and not deletes:
            return

        def op(conn: sqlite3.Connection) -> None:
            for memory_id in deletes:
                row = conn.execute("SELECT rowid FROM kw_docs WHERE memory_id = ?", (memory_id,)).fetchone()
                if row is not None:
                    conn.execute("DELETE FROM kw WHERE rowid = ?", row)
                    conn.execute("DELETE FROM kw_docs WHERE rowid = ?", row)
            for memory_id, scope, body in upserts:
                row = conn.execute("SELECT rowid FROM kw_docs WHERE memory_id = ?", (memory_id,)).fetchone()
                if row is None:
                    if body is None:
                        continue  # nothing to index yet
                    rowid = conn.execute("INSERT INTO kw_docs (memory_id) VALUES (?)", (memory_id,)).lastrowid
                    conn.execute("INSERT INTO kw (rowid, scope, body) VALUES (?, ?, ?)", (rowid, scope, body))
                    continue
                rowid = row[0]
                if body is None:
                    old = conn.execute("SELECT body FROM kw WHERE rowid = ?", (rowid,)).fetchone()
                    body = old[0] if old else ""
                conn.execute("DELETE FROM kw WHERE rowid = ?", (rowid,))
                conn.execute("INSERT INTO kw (rowid, scope, body) VALUES (?, ?, ?)", (rowid, scope, body))

        await self.db.write(op)

    async def search(
        self, terms: Sequence[str], *, scope: Scope, limit: int, allowed: set[str] | None = None
    ) -> list[tuple[str, float]]:
        unique = list(dict.fromkeys(t for t in terms if t))
        if not unique or limit <= 0 or (allowed is not None and not allowed):
            return []
        scope_part = " AND ".join(f"scope : {_token(k, v)}" for k, v in scope.items())
        if allowed is None:
            scope_part = f"{scope_part} AND scope : cur" if scope_part else "scope : cur"
        body_part = " OR ".join(f"body : {_quote(t)}" for t in unique)
        query = f"{scope_part} AND ({body_part})" if scope_part else body_part
        params: list[Any] = [query]
        extra = ""
        if allowed is not None:
            extra = " AND d.memory_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(allowed)))
        sql = (
            "SELECT d.memory_id, bm25(kw, 0.0, 1.0) AS score FROM kw JOIN kw_docs d ON d.rowid = kw.rowid "
            f"WHERE kw MATCH ?{extra} ORDER BY score LIMIT ?"
        )
        params.append(limit)

        def op(conn: sqlite3.Connection) -> list[tuple[str, float]]:
            return [(mid, -float(score)) for mid, score in conn.execute(sql, params)]

        return await self.db.read(op)

    async def reset(self) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM kw")
            conn.execute("DELETE FROM kw_docs")

        await self.db.write(op)
