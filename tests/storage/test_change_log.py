"""The change log tells a process what other processes' commits touched, or that it cannot know.

Two SQLiteDatabase objects on one file stand for two processes (each has its own writer
connection, triggers and identity)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from memoryd.storage.sqlite import changes
from memoryd.storage.sqlite.changes import Changed, key
from memoryd.storage.sqlite.database import SQLiteDatabase

_VECTORS = (
    "CREATE TABLE vectors (rowid INTEGER PRIMARY KEY, memory_id TEXT NOT NULL UNIQUE, "
    "user_id TEXT, agent_id TEXT, run_id TEXT)"
)


class Seen:
    """What one process's watchers were told, call by call."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self.calls: list[Changed] = []
        db.watch(self.calls.append)
        self.db = db

    def after(self) -> list[Changed]:
        self.calls.clear()
        self.db.catch_up()
        return list(self.calls)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[SQLiteDatabase, SQLiteDatabase]]:
    here, there = SQLiteDatabase(tmp_path / "m.db"), SQLiteDatabase(tmp_path / "m.db")
    here.open()
    there.open()
    await there.write(lambda conn: conn.execute(_VECTORS))
    try:
        yield here, there
    finally:
        here.close()
        there.close()


def _insert(memory_id: str, user: str | None, agent: str | None = None, run: str | None = None):  # type: ignore[no-untyped-def]
    def op(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO vectors (memory_id, user_id, agent_id, run_id) VALUES (?, ?, ?, ?)",
            (memory_id, user, agent, run),
        )

    return op


async def test_a_foreign_commit_names_the_scope_values_it_touched(
    pair: tuple[SQLiteDatabase, SQLiteDatabase],
) -> None:
    here, there = pair
    seen = Seen(here)
    seen.after()
    await there.write(_insert("m1", "ana", run="s1"))
    assert seen.after() == [frozenset({key("user_id", "ana"), key("run_id", "s1")})]
    assert seen.after() == []  # told once

    await there.write(lambda c: c.execute("UPDATE vectors SET user_id = 'bo', agent_id = 'x' WHERE memory_id = 'm1'"))
    assert seen.after() == [frozenset({key("user_id", "ana"), key("user_id", "bo"), key("agent_id", "x"), key("run_id", "s1")})]
    await there.write(lambda c: c.execute("DELETE FROM vectors WHERE memory_id = 'm1'"))
    assert seen.after() == [frozenset({key("user_id", "bo"), key("agent_id", "x"), key("run_id", "s1")})]


async def test_own_commits_and_ones_touching_nothing_cached_tell_nobody(
    pair: tuple[SQLiteDatabase, SQLiteDatabase],
) -> None:
    here, there = pair
    seen = Seen(here)
    seen.after()
    await here.write(_insert("m1", "ana"))
    assert seen.after() == []
    await there.write(lambda c: c.execute("CREATE TABLE notes (t TEXT)"))
    await there.write(lambda c: c.execute("INSERT INTO notes VALUES ('not cached by anyone')"))
    assert seen.after() == []
    await there.write(_insert("m2", "bo"))
    await here.write(_insert("m3", "ana"))
    assert seen.after() == [frozenset({key("user_id", "bo")})]  # ours interleaved, theirs still told


async def test_a_rolled_back_write_logs_nothing(pair: tuple[SQLiteDatabase, SQLiteDatabase]) -> None:
    here, there = pair
    seen = Seen(here)
    seen.after()

    def fails(conn: sqlite3.Connection) -> None:
        _insert("m1", "ana")(conn)
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        await there.write(fails)
    await there.write(_insert("m2", "bo"))
    assert seen.after() == [frozenset({key("user_id", "bo")})]  # ana's row never landed, nor its key


async def test_what_cannot_be_known_is_everything(
    pair: tuple[SQLiteDatabase, SQLiteDatabase], monkeypatch: pytest.MonkeyPatch
) -> None:
    here, there = pair
    seen = Seen(here)
    seen.after()

    def rebuild(conn: sqlite3.Connection) -> None:  # an index dropped and rebuilt in one commit
        conn.execute("DROP TABLE vectors")
        conn.execute(_VECTORS)
        _insert("m1", "ana")(conn)

    await there.write(rebuild)
    assert seen.after() == [None]

    monkeypatch.setattr(changes, "MAX_KEYS", 3)
    await there.write(lambda c: [_insert(f"n{i}", f"u{i}")(c) for i in range(4)])
    assert seen.after() == [None]

    await there.write(_insert("m2", "bo"))
    with sqlite3.connect(here.path) as conn:  # a commit by a memoryd from before the log, say
        conn.execute("DELETE FROM memoryd_changes WHERE gen = (SELECT max(gen) FROM memoryd_changes)")
    assert seen.after() == [None]


async def test_tables_created_or_recreated_later_are_watched(
    pair: tuple[SQLiteDatabase, SQLiteDatabase],
) -> None:
    here, there = pair
    seen = Seen(here)
    await there.write(lambda c: c.execute("DROP TABLE vectors"))  # its triggers go with it
    await there.write(lambda c: c.execute(_VECTORS))
    seen.after()
    await there.write(_insert("m1", "ana"))
    assert seen.after() == [frozenset({key("user_id", "ana")})]

    await here.write(lambda c: c.execute("DROP TABLE vectors"))  # by the other process this time:
    await here.write(lambda c: c.execute(_VECTORS))  # the first one's triggers must follow
    seen.after()
    await there.write(_insert("m2", "bo"))
    assert seen.after() == [frozenset({key("user_id", "bo")})]


async def test_the_log_is_pruned_and_a_process_left_behind_drops_everything(
    pair: tuple[SQLiteDatabase, SQLiteDatabase], monkeypatch: pytest.MonkeyPatch
) -> None:
    here, there = pair
    monkeypatch.setattr(changes, "KEEP", 10)
    monkeypatch.setattr(changes, "PRUNE_EVERY", 5)
    seen = Seen(here)
    seen.after()
    for i in range(40):
        await there.write(_insert(f"m{i}", "ana"))
    with sqlite3.connect(here.path) as conn:
        kept = conn.execute("SELECT count(DISTINCT gen) FROM memoryd_changes").fetchone()[0]
    assert kept <= 15
    assert seen.after() == [None]  # 40 commits behind, only the last few still logged
    await there.write(_insert("last", "bo"))
    assert seen.after() == [frozenset({key("user_id", "bo")})]


async def test_hierarchy_segments_are_named_by_owner(pair: tuple[SQLiteDatabase, SQLiteDatabase]) -> None:
    here, there = pair
    await there.write(lambda c: c.execute("CREATE TABLE segments (id TEXT PRIMARY KEY, owner TEXT NOT NULL)"))
    seen = Seen(here)
    seen.after()
    await there.write(lambda c: c.execute("INSERT INTO segments VALUES ('s1', 'owner-key')"))
    assert seen.after() == [frozenset({key("owner", "owner-key")})]
