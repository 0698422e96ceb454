"""What another process changed in the file, so a cache drops only that.

A server keeps partitions of the indexes, records and segments in memory; a worker or a CLI
command writing to the same file must not leave them stale. Every commit that changes rows
moves the file's generation counter (:mod:`memoryd.storage.sqlite.database`) and, in the same
transaction, logs the scope values it touched in ``memoryd_changes``: the user, agent and
run of memories, their vectors and keyword entries, and the owner of hierarchy segments.
Temporary triggers on the writer's own connection collect them as rows change (old and new
values both), so no write path can forget to. The log holds a digest of each value (see
:func:`key`), never the id itself: forgetting a user leaves no trace of them in it.

A process catching up reads the log past the generation it last saw, skips its own commits,
and tells its caches which scope values moved. Everything is dropped instead when that cannot
be known: a generation missing from the log (pruned while the process was idle, or written by
a memoryd from before the log), a commit that changed the schema (an index dropped and
rebuilt), or one touching more than :data:`MAX_KEYS` values. Before the log, any foreign write
emptied every cache: a 30k-memory user's search went from 7 to ~580 ms while a worker wrote
for other users.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable

__all__ = [
    "EVERYTHING",
    "LOG_TABLE",
    "MAX_KEYS",
    "Changed",
    "Watcher",
    "install",
    "key",
    "read_since",
    "record",
]

# The scope values a foreign commit touched, as :func:`key` digests; None: anything may have.
Changed = frozenset[str] | None
Watcher = Callable[[Changed], None]

LOG_TABLE = (
    "CREATE TABLE IF NOT EXISTS memoryd_changes (gen INTEGER NOT NULL, key TEXT NOT NULL, "
    "writer TEXT NOT NULL, PRIMARY KEY (gen, key)) WITHOUT ROWID"
)
EVERYTHING = "*"
_NOTHING = ""  # a commit that touched no cached table: the generation is accounted for
MAX_KEYS = 2000  # a commit touching more (an import, a reset) is logged as everything
KEEP = 20000  # generations kept in the log; a process further behind drops everything
PRUNE_EVERY = 500  # commits between two prunings

_CODES = {"user_id": "u", "agent_id": "a", "run_id": "r", "owner": "o"}
_WATCHED = {
    "memories": ("user_id", "agent_id", "run_id"),
    "vectors": ("user_id", "agent_id", "run_id"),
    "kw_docs": ("user_id", "agent_id", "run_id"),
    "segments": ("owner",),
}
# Rows appended by the triggers (no uniqueness: a lookup per row would double their cost),
# read back distinct once per commit.
_TOUCHED = (
    "CREATE TEMP TABLE IF NOT EXISTS memoryd_touched (user_id TEXT, agent_id TEXT, run_id TEXT, owner TEXT)"
)
_TOUCHED_COLS = ("user_id", "agent_id", "run_id", "owner")


def _trigger(table: str, event: str, rows: tuple[str, ...]) -> str:
    watched = _WATCHED[table]
    body = " ".join(
        "INSERT INTO memoryd_touched VALUES ("
        + ", ".join(f"{row}.{col}" if col in watched else "NULL" for col in _TOUCHED_COLS)
        + ");"
        for row in rows
    )
    return (
        f"CREATE TEMP TRIGGER IF NOT EXISTS memoryd_log_{table}_{event.lower()} "
        f"AFTER {event} ON main.{table} BEGIN {body} END"
    )


def key(field: str, value: str) -> str:
    """How the log names one scope value (``field`` is user_id, agent_id, run_id or owner): a
    64-bit digest; two values sharing one only cost a cache a needless reload."""
    return hashlib.blake2b(f"{_CODES[field]}:{value}".encode(), digest_size=8).hexdigest()


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


def record(conn: sqlite3.Connection, gen: int, writer: str, *, everything: bool, commits: int) -> None:
    """Inside the commit that becomes ``gen``: log what it touched (and now and then forget
    generations no process should still need)."""
    keys = sorted(
        {
            key(col, value)
            for row in conn.execute("SELECT DISTINCT * FROM memoryd_touched")
            for col, value in zip(_TOUCHED_COLS, row, strict=True)
            if value is not None
        }
    )
    conn.execute("DELETE FROM memoryd_touched")
    if everything or len(keys) > MAX_KEYS:
        keys = [EVERYTHING]
    conn.executemany(
        "INSERT OR REPLACE INTO memoryd_changes (gen, key, writer) VALUES (?, ?, ?)",
        [(gen, k, writer) for k in keys or [_NOTHING]],
    )
    if commits % PRUNE_EVERY == 0:
        conn.execute("DELETE FROM memoryd_changes WHERE gen <= ?", (gen - KEEP,))


def read_since(conn: sqlite3.Connection, seen: int, now: int, writer: str) -> Changed:
    """The scope values other writers' commits ``seen < gen <= now`` touched."""
    gens: set[int] = set()
    changed: set[str] = set()
    for gen, k, by in conn.execute(
        "SELECT gen, key, writer FROM memoryd_changes WHERE gen > ? AND gen <= ?", (seen, now)
    ):
        gens.add(gen)
        if by == writer or k == _NOTHING:
            continue
        if k == EVERYTHING:
            return None
        changed.add(k)
    if len(gens) != now - seen:
        return None  # generations the log no longer (or never) held
    return frozenset(changed)
