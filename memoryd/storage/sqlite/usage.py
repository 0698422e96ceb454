"""The chat gateway's usage counters in a table of the shared SQLite file.

One row per (user, UTC day, model) with request and token counts; an add is an
upsert that sums, so the gateway can save counters it aggregated in memory in
one small transaction every second or so. Calls without a user are counted
under the empty string (``user_id`` ``None`` outside this module).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from memoryd.storage.base import UsageRecord
from memoryd.storage.resources import Resources
from memoryd.storage.sqlite.database import SQLiteDatabase

__all__ = ["SQLiteUsageStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gateway_usage (
    user_id TEXT NOT NULL,
    day TEXT NOT NULL,
    model TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    memory_tokens INTEGER NOT NULL DEFAULT 0,
    memories INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day, model)
) WITHOUT ROWID
"""

_UPSERT = """
INSERT INTO gateway_usage VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (user_id, day, model) DO UPDATE SET
    requests = requests + excluded.requests,
    prompt_tokens = prompt_tokens + excluded.prompt_tokens,
    completion_tokens = completion_tokens + excluded.completion_tokens,
    memory_tokens = memory_tokens + excluded.memory_tokens,
    memories = memories + excluded.memories
"""

_COLUMNS = "user_id, day, model, requests, prompt_tokens, completion_tokens, memory_tokens, memories"


def _row(r: UsageRecord) -> tuple[object, ...]:
    return (
        r.user_id or "", r.day, r.model, r.requests, r.prompt_tokens, r.completion_tokens,
        r.memory_tokens, r.memories,
    )  # fmt: skip


class SQLiteUsageStore:
    """Usage counters on the database the record store uses."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    @classmethod
    def from_resources(cls, resources: Resources) -> SQLiteUsageStore:
        return cls(resources.sqlite())

    async def open(self) -> None:
        self.db.open()
        await self.db.write(lambda conn: conn.execute(_SCHEMA))

    async def close(self) -> None:
        self.db.close()

    async def add(self, records: Sequence[UsageRecord]) -> None:
        rows = [_row(r) for r in records]
        if rows:
            await self.db.write(lambda conn: conn.executemany(_UPSERT, rows))

    async def query(
        self,
        user_id: str | None = None,
        *,
        all_users: bool = False,
        since: str | None = None,
        until: str | None = None,
    ) -> list[UsageRecord]:
        where, args = [], []
        if not all_users:
            where.append("user_id = ?")
            args.append(user_id or "")
        if since is not None:
            where.append("day >= ?")
            args.append(since)
        if until is not None:
            where.append("day <= ?")
            args.append(until)
        sql = f"SELECT {_COLUMNS} FROM gateway_usage"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY user_id, day, model"

        def read(conn: sqlite3.Connection) -> list[UsageRecord]:
            return [UsageRecord(r[0] or None, *r[1:]) for r in conn.execute(sql, args)]

        return await self.db.read(read)

    async def delete_user(self, user_id: str) -> int:
        def op(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM gateway_usage WHERE user_id = ?", (user_id,)).rowcount

        deleted: int | None = await self.db.write(op)
        return deleted or 0  # None when staged in an outer transaction

    async def reset(self) -> None:
        await self.db.write(lambda conn: conn.execute("DELETE FROM gateway_usage"))
