"""Memories of no user and no agent (added with a ``run_id`` alone) have no owner and no tree:
``users()`` lists them last, in one row marked ``session_only`` with their sessions and how to
read them, and every other row is an owner whose tree opens (Python API, sync API, HTTP, CLI)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoryd import AsyncMemory, Memory
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import InvalidInputError
from memoryd.hierarchy.owners import RUN_IDS_SHOWN
from tests.api.conftest import running_server
from tests.api.schema_check import SchemaCheck
from tests.cli.conftest import Run, as_json, clean_env, db_path, expect_error, run  # noqa: F401  (fixtures)
from tests.hierarchy.conftest import Clock, tier_settings


async def _store(mem: AsyncMemory, clock: Clock) -> None:
    """Two sessions of nobody (s2 the latest, with more memories than any owner), a user, an agent."""
    await mem.add("hello", run_id="s1")
    clock.advance(seconds=1)
    await mem.add("I am Ana and I keep bees.", user_id="ana", run_id="a1")
    await mem.add("Remember to greet users politely", agent_id="bot7", run_id="b1")
    clock.advance(seconds=1)
    for text in ("We fly to Kyoto in April.", "The hotel is near the station.", "Pack the rain jacket."):
        await mem.add(text, run_id="s2")


def _session_only(row: dict[str, Any], runs: list[str]) -> None:
    assert (row["user_id"], row["agent_id"], row["session_only"]) == (None, None, True), row
    assert (row["runs"], row["run_ids"]) == (len(runs), runs), row
    assert "get_all(run_id=" in row["hint"] and "GET /v1/memories?run_id=" in row["hint"], row


async def test_users_lists_session_only_memories_last_and_marked(
    make_memory: Callable[..., Any], clock: Clock
) -> None:
    async with make_memory() as mem:
        await _store(mem, clock)
        rows = await mem.users()
        *owners, last = rows
        # the owners come first, each a tree; the memories of nobody come last though they are the most
        assert {(r["user_id"], r["agent_id"]) for r in owners} == {("ana", None), (None, "bot7")}
        for row in owners:
            assert row["session_only"] is False and "run_ids" not in row and "hint" not in row
            tree = await mem.tree(row["user_id"], agent_id=row["agent_id"])
            assert tree["counts"]["episodes"] + sum(tree["counts"]["long_term"].values()) == row["memories"]
        _session_only(last, ["s2", "s1"])
        assert last["memories"] > max(r["memories"] for r in owners)
        # what the row counts is what its sessions hold, read as the hint says
        read = [m for run_id in last["run_ids"] for m in (await mem.get_all(run_id=run_id)).items]
        assert len(read) == last["memories"] and {m.user_id for m in read} == {None}
        assert sum(last["kinds"].values()) == last["memories"]
        assert "hello" in {m.text for m in read}
        # a tree of nobody says where those memories are
        with pytest.raises(InvalidInputError) as neither:
            await mem.tree()
        assert neither.value.field == "user_id" and "session_only" in str(neither.value)
        assert "get_all(run_id=" in str(neither.value)
        # a user's own listing never shows them
        assert [r["user_id"] for r in await mem.users(user_id="ana")] == ["ana"]


async def test_the_session_only_row_names_its_latest_sessions(make_memory: Callable[..., Any], clock: Clock) -> None:
    async with make_memory() as mem:
        for i in range(RUN_IDS_SHOWN + 2):
            await mem.add(f"note number {i}", run_id=f"r{i:03d}")
            clock.advance(seconds=1)
        await mem.add("one more note", run_id="r000")  # r000 is the latest session again
        [row] = await mem.users()
        assert row["session_only"] is True and row["runs"] == RUN_IDS_SHOWN + 2
        expected = ["r000", *(f"r{i:03d}" for i in range(RUN_IDS_SHOWN + 1, 0, -1))][:RUN_IDS_SHOWN]
        assert row["run_ids"] == expected


def test_the_sync_memory_marks_a_session_of_nobody(tmp_path: Path, embedder: USEEmbedder) -> None:
    with Memory(tier_settings(tmp_path), embedder=embedder) as m:
        m.add("hello", run_id="s1")
        [row] = m.users()
        _session_only(row, ["s1"])
        assert [x.text for x in m.get_all(run_id="s1").items] == ["hello"]


def test_users_over_http_marks_the_session_only_row(tmp_path: Path, embedder: USEEmbedder) -> None:
    with running_server(tier_settings(tmp_path), embedder) as server, httpx.Client(
        base_url=server.url, timeout=30
    ) as c:
        for body in ({"messages": "hello", "run_id": "s1"}, {"messages": "I keep bees", "user_id": "ana"}):
            assert c.post("/v1/memories", json=body).status_code == 200
        check = SchemaCheck.served_by(c)
        owner, last = check(c.get("/v1/users"), "/v1/users")["results"]  # the schema names every field
        assert (owner["user_id"], owner["session_only"]) == ("ana", False)
        assert c.get("/v1/users/ana/tree").status_code == 200
        _session_only(last, ["s1"])
        listed = c.get("/v1/memories", params={"run_id": "s1"}).json()
        assert [m["text"] for m in listed["results"]] == ["hello"]


def test_the_tree_command_points_at_sessions_of_nobody(run: Run) -> None:  # noqa: F811
    assert run("add", "hello", "--run-id", "s1").exit_code == 0
    expect_error(run("tree"), 2, "--user-id", "session_only", "get_all(run_id=")
    assert "memoryd list --run-id ID" in " ".join(run("tree", "--help").stdout.split())
    assert [m["text"] for m in as_json(run("list", "--run-id", "s1", "--json"))["results"]] == ["hello"]
