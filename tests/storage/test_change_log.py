"""The change log tells a process what other processes' commits touched, or that it cannot know.

Two SQLiteDatabase objects on one file stand for two processes (each has its own writer
connection, triggers and identity)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.storage.sqlite import changes
from memoryd.storage.sqlite.changes import Foreign, key
from memoryd.storage.sqlite.database import SQLiteDatabase

_MEMORIES = "CREATE TABLE memories (id TEXT PRIMARY KEY, user_id TEXT, agent_id TEXT, run_id TEXT)"


class Seen:
    """What one process's watchers were told, call by call: the scope values (None: anything)."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self.calls: list[Foreign | None] = []
        db.watch(lambda changed, conn: self.calls.append(changed))
        self.db = db

    def after(self) -> list[frozenset[str] | None]:
        self.calls.clear()
        self.db.catch_up()
        return [None if c is None else c.scopes for c in self.calls]

    def ids(self) -> list[frozenset[str] | None]:
        """The memory ids of the calls :meth:`after` saw."""
        return [c.memory_ids if c is not None else None for c in self.calls]


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[SQLiteDatabase, SQLiteDatabase]]:
    here, there = SQLiteDatabase(tmp_path / "m.db"), SQLiteDatabase(tmp_path / "m.db")
    here.open()
    there.open()
    await there.write(lambda conn: conn.execute(_MEMORIES))
    try:
        yield here, there
    finally:
        here.close()
        there.close()


@pytest.fixture
def seen(pair: tuple[SQLiteDatabase, SQLiteDatabase]) -> Seen:
    """What the first process's watchers are told, from now on."""
    watching = Seen(pair[0])
    watching.after()
    return watching


def _insert(memory_id: str, user: str | None, agent: str | None = None, run: str | None = None):  # type: ignore[no-untyped-def]
    def op(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO memories (id, user_id, agent_id, run_id) VALUES (?, ?, ?, ?)",
            (memory_id, user, agent, run),
        )

    return op


async def test_a_foreign_commit_names_the_scope_values_it_touched(
    pair: tuple[SQLiteDatabase, SQLiteDatabase], seen: Seen,
) -> None:
    here, there = pair
    await there.write(_insert("m1", "ana", run="s1"))
    assert seen.after() == [frozenset({key("user_id", "ana"), key("run_id", "s1")})]
    assert seen.ids() == [frozenset({"m1"})]
    assert seen.after() == []  # told once

    await there.write(lambda c: c.execute("UPDATE memories SET user_id = 'bo', agent_id = 'x' WHERE id = 'm1'"))
    assert seen.after() == [frozenset({key("user_id", "ana"), key("user_id", "bo"), key("agent_id", "x"), key("run_id", "s1")})]
    await there.write(lambda c: c.execute("DELETE FROM memories WHERE id = 'm1'"))
    assert seen.after() == [frozenset({key("user_id", "bo"), key("agent_id", "x"), key("run_id", "s1")})]


async def test_own_commits_and_ones_touching_nothing_cached_tell_nobody(
    pair: tuple[SQLiteDatabase, SQLiteDatabase], seen: Seen,
) -> None:
    here, there = pair
    await here.write(_insert("m1", "ana"))
    assert seen.after() == []
    await there.write(lambda c: c.execute("CREATE TABLE notes (t TEXT)"))
    await there.write(lambda c: c.execute("INSERT INTO notes VALUES ('not cached by anyone')"))
    assert seen.after() == []
    await there.write(_insert("m2", "bo"))
    await here.write(_insert("m3", "ana"))
    assert seen.after() == [frozenset({key("user_id", "bo")})]  # ours interleaved, theirs still told


async def test_a_rolled_back_write_logs_nothing(pair: tuple[SQLiteDatabase, SQLiteDatabase], seen: Seen) -> None:
    here, there = pair

    def fails(conn: sqlite3.Connection) -> None:
        _insert("m1", "ana")(conn)
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        await there.write(fails)
    await there.write(_insert("m2", "bo"))
    assert seen.after() == [frozenset({key("user_id", "bo")})]  # ana's row never landed, nor its key


async def test_what_cannot_be_known_is_everything(
    pair: tuple[SQLiteDatabase, SQLiteDatabase], seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, there = pair

    def rebuild(conn: sqlite3.Connection) -> None:  # an index dropped and rebuilt in one commit
        conn.execute("DROP TABLE memories")
        conn.execute(_MEMORIES)
        _insert("m1", "ana")(conn)

    await there.write(rebuild)
    assert seen.after() == [None]

    monkeypatch.setattr(changes, "MAX_KEYS", 3)
    await there.write(lambda c: [_insert(f"n{i}", f"u{i}")(c) for i in range(4)])
    assert seen.after() == [None]

    monkeypatch.setattr(changes, "MAX_IDS", 2)  # too many memories to list: the scopes only
    await there.write(lambda c: [_insert(f"k{i}", "ana")(c) for i in range(3)])
    assert seen.after() == [frozenset({key("user_id", "ana")})] and seen.ids() == [None]

    await there.write(_insert("m2", "bo"))
    with sqlite3.connect(here.path) as conn:  # a commit by a memoryd from before the log, say
        conn.execute("DELETE FROM memoryd_change_log WHERE gen = (SELECT max(gen) FROM memoryd_change_log)")
    assert seen.after() == [None]


async def test_tables_created_or_recreated_later_are_watched(
    pair: tuple[SQLiteDatabase, SQLiteDatabase], seen: Seen,
) -> None:
    here, there = pair
    await there.write(lambda c: c.execute("DROP TABLE memories"))  # its triggers go with it
    await there.write(lambda c: c.execute(_MEMORIES))
    seen.after()
    await there.write(_insert("m1", "ana"))
    assert seen.after() == [frozenset({key("user_id", "ana")})]

    await here.write(lambda c: c.execute("DROP TABLE memories"))  # by the other process this time:
    await here.write(lambda c: c.execute(_MEMORIES))  # the first one's triggers must follow
    seen.after()
    await there.write(_insert("m2", "bo"))
    assert seen.after() == [frozenset({key("user_id", "bo")})]


async def test_the_log_is_pruned_and_a_process_left_behind_drops_everything(
    pair: tuple[SQLiteDatabase, SQLiteDatabase], seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, there = pair
    monkeypatch.setattr(changes, "KEEP", 10)
    monkeypatch.setattr(changes, "PRUNE_EVERY", 5)
    for i in range(40):
        await there.write(_insert(f"m{i}", "ana"))
    with sqlite3.connect(here.path) as conn:
        kept = conn.execute("SELECT count(DISTINCT gen) FROM memoryd_change_log").fetchone()[0]
    assert kept <= 15
    assert seen.after() == [None]  # 40 commits behind, only the last few still logged
    await there.write(_insert("last", "bo"))
    assert seen.after() == [frozenset({key("user_id", "bo")})]

    for n in range(12):  # short-lived writers (CLI commands) prune too: the shared count decides
        command = SQLiteDatabase(here.path)
        command.open()
        for i in range(3):
            await command.write(_insert(f"c{n}-{i}", "cy"))
        command.close()
    with sqlite3.connect(here.path) as conn:
        assert conn.execute("SELECT count(*) FROM memoryd_change_log").fetchone()[0] <= 15


async def test_hierarchy_segments_are_named_by_owner(pair: tuple[SQLiteDatabase, SQLiteDatabase], seen: Seen) -> None:
    here, there = pair
    await there.write(lambda c: c.execute("CREATE TABLE segments (id TEXT PRIMARY KEY, owner TEXT NOT NULL)"))
    await there.write(lambda c: c.execute("INSERT INTO segments VALUES ('s1', 'owner-key')"))
    assert seen.after() == [frozenset({key("owner", "owner-key")})]


async def test_a_commits_hooks_run_though_its_caller_was_cancelled(tmp_path: Path) -> None:
    """A task cancelled while its write commits (a client gone, a timeout) still refreshes the
    caches: the hooks run on the writer thread, not in the task."""
    db = SQLiteDatabase(tmp_path / "m.db")
    db.open()
    try:
        await db.write(lambda c: c.execute(_MEMORIES))
        ran: list[str] = []
        started = threading.Event()

        def slow(conn: sqlite3.Connection) -> None:
            started.set()
            time.sleep(0.3)
            _insert("m1", "ana")(conn)

        task = asyncio.create_task(db.write(slow, after_commit=lambda: ran.append("refreshed")))
        await asyncio.get_running_loop().run_in_executor(None, started.wait)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await db.write(_insert("m2", "bo"))  # queued behind it: by now it committed
        assert ran == ["refreshed"]
        assert await db.read(lambda c: c.execute("SELECT count(*) FROM memories").fetchone()[0]) == 2
    finally:
        db.close()


async def test_what_came_after_an_own_commit_waits_for_its_hooks(
    pair: tuple[SQLiteDatabase, SQLiteDatabase], seen: Seen,
) -> None:
    """Another process's later write to the same rows is never caught up with before this
    process's own refresh of its earlier commit: that refresh would put the older rows back."""
    here, there = pair
    release, hooked = threading.Event(), threading.Event()

    def hook() -> None:
        hooked.set()
        release.wait(10)

    own = asyncio.create_task(here.write(_insert("m1", "ana"), after_commit=hook))
    await asyncio.get_running_loop().run_in_executor(None, hooked.wait)  # committed, refreshing
    await there.write(lambda c: c.execute("UPDATE memories SET run_id = 's2' WHERE id = 'm1'"))
    assert seen.after() == []  # not yet
    release.set()
    await own
    assert seen.after() == [frozenset({key("user_id", "ana"), key("run_id", "s2")})]


async def test_the_keyword_index_writes_its_terms_once_per_commit(tmp_path: Path, embedder: USEEmbedder) -> None:
    """Each statement on a table with triggers opens a savepoint, and FTS5 writes out what it has
    buffered at each: keyword rows interleaved with their documents' rows wrote a segment per
    memory (808 writes for an add of 128 instead of 6; the add 13% slower)."""
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "m.db")}})
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add([f"warm-up note {i}" for i in range(8)], user_id="u")
        db = mem.storage.records.db  # type: ignore[attr-defined]
        writes: list[str] = []

        def trace(sql: str) -> None:
            if "kw_data" in sql or "kw_idx" in sql:
                writes.append(sql)

        await db.write(lambda c: c.set_trace_callback(trace))
        await mem.add([f"message {i} about gardens and rivers" for i in range(128)], user_id="u", run_id="s")
        await db.write(lambda c: c.set_trace_callback(None))
        assert 0 < len(writes) <= 20, len(writes)
        hits = await mem.search("message 77 about gardens", user_id="u", explain=True)
        assert hits[0].memory.text == "message 77 about gardens and rivers"
        assert hits[0].explain["bm25_rank"] == 1  # type: ignore[index]


async def test_triggers_installed_in_a_write_that_failed_are_installed_again(
    pair: tuple[SQLiteDatabase, SQLiteDatabase],
) -> None:
    """A table another process creates gets its triggers at this writer's next write, inside
    that write's transaction: when the write fails, its rollback takes them along."""
    here, there = pair
    watching = Seen(there)
    await there.write(lambda c: c.execute("CREATE TABLE segments (id TEXT PRIMARY KEY, owner TEXT NOT NULL)"))

    def fails(conn: sqlite3.Connection) -> None:
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        await here.write(fails)
    watching.after()
    await here.write(lambda c: c.execute("INSERT INTO segments VALUES ('s1', 'owner-key')"))
    assert watching.after() == [frozenset({key("owner", "owner-key")})]
