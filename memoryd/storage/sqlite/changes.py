"""What another process changed in the file, so a cache updates or drops only that.

A server keeps partitions of the indexes, records and segments in memory; a worker or a CLI
command writing to the same file must not leave them stale. Every commit that changes rows
moves the file's generation counter (:mod:`memoryd.storage.sqlite.database`) and, in the same
transaction, writes one row to ``memoryd_change_log``: the scope values whose rows it touched
(the user, agent and run of memories, their vectors and keyword entries; the owner of
hierarchy segments) and the ids of the memories it touched. Temporary triggers on the
writer's own connection collect them as rows of memories and segments change (old and new
values both), so no write path can forget to; the two index tables, written only by their
stores' ``apply`` and ``reset``, say what they changed themselves (:func:`touch`): a trigger
per row there cost a 128-message add 1.6 ms of the writer's time. Scope values are logged
as digests (:func:`key`), never as the ids themselves, and forgetting a user ends by
emptying the log (:func:`forget_all`): a digest could still confirm a guessed id.

A process catching up reads the log past the generation it last saw and skips its own
commits. An index partition of a touched scope re-reads just the touched memories' rows (a
worker's add costs a server's loaded user a few rows, not a reload); the other caches drop
what was touched. Everything is dropped instead when that cannot be known: a generation
missing from the log (pruned while the process was idle, or written by a memoryd from before
the log), a commit that changed the schema (an index dropped and rebuilt), or one touching
more than :data:`MAX_KEYS` scope values; a commit touching more than :data:`MAX_IDS` memories
names its scopes only. Before the log, any foreign write emptied every cache: a 30k-memory
user's search went from 5 to ~500 ms while a worker wrote for other users.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "LOG_TABLE",
    "MAX_IDS",
    "MAX_KEYS",
    "Changed",
    "Foreign",
    "Watcher",
    "forget_all",
    "install",
    "key",
    "read_since",
    "record",
    "touch",
    "touch_everything",
]


@dataclass(frozen=True, slots=True)
class Foreign:
    """What other processes' commits touched."""

    scopes: frozenset[str]  # scope values, as :func:`key` names them
    memory_ids: frozenset[str] | None  # None: too many to list (then the scopes say it all)


Changed = Foreign | None  # None: anything may have changed
Watcher = Callable[[Foreign | None, sqlite3.Connection], None]  # and a connection to re-read rows

LOG_TABLE = (
    "CREATE TABLE IF NOT EXISTS memoryd_change_log (gen INTEGER PRIMARY KEY, writer TEXT NOT NULL, "
    "scopes TEXT NOT NULL, memory_ids TEXT)"
)
_EVERYTHING = "*"
MAX_KEYS = 2000  # a commit touching more scope values (an import, a reset) is logged as everything
MAX_IDS = 1000  # a commit touching more memories is logged by its scopes alone
KEEP = 5000  # generations kept in the log; a process further behind drops everything
PRUNE_EVERY = 500  # commits between two prunings

_CODES = {"user_id": "u", "agent_id": "a", "run_id": "r", "owner": "o"}
_WATCHED = {  # table: (its scope columns, its memory id column)
    "memories": (("user_id", "agent_id", "run_id"), "id"),
    "segments": (("owner",), None),
}
# Rows appended by the triggers and by touch() (no uniqueness: a lookup per row would double
# their cost), read back distinct once per commit. A row of NULLs only (no trigger writes one:
# every memory has an id, every segment an owner) stands for everything.
_TOUCHED_COLS = ("user_id", "agent_id", "run_id", "owner", "memory_id")
_TOUCHED = (
    f"CREATE TEMP TABLE IF NOT EXISTS memoryd_touched ({', '.join(c + ' TEXT' for c in _TOUCHED_COLS)})"
)


def key(field: str, value: str) -> str:
    """How the log names one scope value (``field`` is user_id, agent_id, run_id or owner): a
    64-bit digest; two values sharing one only cost a cache a needless reload."""
    return hashlib.blake2b(f"{_CODES[field]}:{value}".encode(), digest_size=8).hexdigest()


def _trigger(table: str, event: str, rows: tuple[str, ...]) -> str:
    scopes, id_col = _WATCHED[table]

    def value(row: str, col: str) -> str:
        if col == "memory_id":
            return f"{row}.{id_col}" if id_col else "NULL"
        return f"{row}.{col}" if col in scopes else "NULL"

    body = " ".join(
        f"INSERT INTO memoryd_touched VALUES ({', '.join(value(row, c) for c in _TOUCHED_COLS)});"
        for row in rows
    )
    return (
        f"CREATE TEMP TRIGGER IF NOT EXISTS memoryd_log_{table}_{event.lower()} "
        f"AFTER {event} ON main.{table} BEGIN {body} END"
    )


def install(conn: sqlite3.Connection) -> None:
    """Create the writer connection's collecting table and its triggers on the watched tables
    that exist (again after a schema change: dropping a table drops its triggers)."""
    conn.execute(_TOUCHED)
    present = {
        r[0]
        for r in conn.execute(
            f"SELECT name FROM main.sqlite_master WHERE type = 'table' AND name IN "
            f"({','.join('?' * len(_WATCHED))})",
            tuple(_WATCHED),
        )
    }
    for table in present:
        conn.execute(_trigger(table, "INSERT", ("NEW",)))
        conn.execute(_trigger(table, "UPDATE", ("OLD", "NEW")))
        conn.execute(_trigger(table, "DELETE", ("OLD",)))


def touch(conn: sqlite3.Connection, rows: Iterable[tuple[str | None, str | None, str | None, str]]) -> None:
    """Inside a write: these memories' rows of an index table changed, as (user_id, agent_id,
    run_id, memory_id): the scope a row has now, or had before it was deleted (a scope a memory
    leaves is logged by the trigger on its record, which changes in the same commit)."""
    conn.executemany(
        "INSERT INTO memoryd_touched (user_id, agent_id, run_id, memory_id) VALUES (?, ?, ?, ?)", rows
    )


def touch_everything(conn: sqlite3.Connection) -> None:
    """Inside a write that changes rows of an index table wholesale (a reset)."""
    conn.execute("INSERT INTO memoryd_touched DEFAULT VALUES")


def record(conn: sqlite3.Connection, gen: int, writer: str, *, everything: bool) -> None:
    """Inside the commit that becomes ``gen``: log what it touched (and now and then forget
    generations no process should still need)."""
    scopes: set[str] = set()
    ids: set[str] = set()
    for row in conn.execute("SELECT DISTINCT * FROM memoryd_touched"):
        if all(value is None for value in row):
            everything = True
        for col, value in zip(_TOUCHED_COLS[:-1], row, strict=False):
            if value is not None:
                scopes.add(key(col, value))
        if row[-1] is not None:
            ids.add(row[-1])
    conn.execute("DELETE FROM memoryd_touched")
    if everything or len(scopes) > MAX_KEYS:
        logged, listed = _EVERYTHING, None
    else:
        logged = " ".join(sorted(scopes))
        listed = json.dumps(sorted(ids)) if len(ids) <= MAX_IDS else None
    row = (gen, writer, logged, listed)
    conn.execute("INSERT OR REPLACE INTO memoryd_change_log VALUES (?, ?, ?, ?)", row)
    if gen % PRUNE_EVERY == 0:  # the counter all writers share: one commit in so many prunes
        conn.execute("DELETE FROM memoryd_change_log WHERE gen <= ?", (gen - KEEP,))


def forget_all(conn: sqlite3.Connection) -> None:
    """Empty the log (after forgetting a user): a process behind finds its generations gone and
    drops every cache, which is always right."""
    conn.execute("DELETE FROM memoryd_change_log")


def read_since(conn: sqlite3.Connection, seen: int, now: int, writer: str) -> Changed:
    """What other writers' commits ``seen < gen <= now`` touched."""
    if now - seen > KEEP:
        return None  # pruned by now, and not worth reading
    rows = conn.execute(
        "SELECT writer, scopes, memory_ids FROM memoryd_change_log WHERE gen > ? AND gen <= ?", (seen, now)
    ).fetchall()
    if len(rows) != now - seen:
        return None  # generations the log no longer (or never) held
    scopes: set[str] = set()
    ids: set[str] | None = set()
    for by, logged, listed in rows:
        if by == writer or not logged:
            continue  # ours (our caches know), or nothing cached
        if logged == _EVERYTHING:
            return None
        scopes.update(logged.split())
        if listed is None:
            ids = None
        elif ids is not None:
            ids.update(json.loads(listed))
    return Foreign(frozenset(scopes), None if ids is None else frozenset(ids))
