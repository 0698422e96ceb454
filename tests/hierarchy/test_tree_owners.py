"""Every owner ``users()`` lists has its memory tree (an agent's own memories too, of no user), in
the Python API (async and sync), over HTTP and in the CLI; an owner with nothing stored is a 404
naming the field, never an empty tree that looks like a real one."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoryd import AsyncMemory, Memory
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import InvalidInputError, NotFoundError
from tests.api.conftest import error_of, running_server
from tests.auth.conftest import bearer, new_key
from tests.cli.conftest import Run, as_json, clean_env, db_path, expect_error, run  # noqa: F401  (fixtures)
from tests.hierarchy.conftest import TOPICS, tier_settings

GREETING = "Remember to greet users politely"


async def _owners(mem: AsyncMemory) -> None:
    """An agent alone (turns in mid-term and short-term), a user, and that user with the agent."""
    for role, text in TOPICS["hiking"] + TOPICS["cat"]:
        await mem.add({"role": role, "content": text}, agent_id="bot7", run_id="s1")
    await mem.add(GREETING, agent_id="bot7", run_id="s2")
    await mem.add("I work at Globex as a data engineer.", user_id="ana", run_id="a1")
    await mem.add("Tonight I am cooking a mushroom risotto.", user_id="ana", agent_id="bot7", run_id="a2")


def _matches(tree: dict[str, Any], row: dict[str, Any]) -> None:
    """The tree holds exactly what ``users()`` counts for its owner."""
    counts = tree["counts"]
    assert (tree["user_id"], tree["agent_id"]) == (row["user_id"], row["agent_id"])
    assert {k: counts[k] for k in row["tiers"]} == row["tiers"], (row, counts)
    assert counts["episodes"] == row["kinds"].get("episode", 0)
    assert counts["episodes"] + sum(counts["long_term"].values()) == row["memories"]


async def test_every_owner_users_lists_has_its_tree(make_memory: Callable[..., Any]) -> None:
    async with make_memory(short_term_turns=2, short_term_sessions=1) as mem:
        await _owners(mem)
        rows = await mem.users()
        assert {(r["user_id"], r["agent_id"]) for r in rows} == {(None, "bot7"), ("ana", None), ("ana", "bot7")}
        for row in rows:
            _matches(await mem.tree(row["user_id"], agent_id=row["agent_id"]), row)
        agent = await mem.tree(agent_id="bot7")
        assert agent["counts"]["mid_term_turns"] > 0 and agent["counts"]["short_term_turns"] > 0
        shown = [e["text"] for s in agent["short_term"] for e in s["episodes"]]
        assert GREETING in shown and "Globex" not in str(agent) and "risotto" not in str(agent)
        # the user's tree is the user's shared memories, not the agent's own nor the user's with it
        assert "risotto" not in str(await mem.tree("ana")) and GREETING not in str(await mem.tree("ana"))


async def test_an_owner_with_nothing_stored_is_not_found(make_memory: Callable[..., Any]) -> None:
    async with make_memory() as mem:
        await _owners(mem)
        await mem.add("I only talk to the helper bot.", user_id="eve", agent_id="helper")
        for args, kwargs, field in (
            (("nobody",), {}, "user_id"),
            (("bot7",), {}, "user_id"),  # an agent is not a user
            (("bot7",), {"agent_id": "bot7"}, "user_id"),
            ((None,), {"agent_id": "ghost"}, "agent_id"),
            (("ana",), {"agent_id": "ghost"}, "agent_id"),
            (("eve",), {}, "agent_id"),  # eve has memories only with an agent: name it
        ):
            with pytest.raises(NotFoundError) as caught:
                await mem.tree(*args, **kwargs)
            assert caught.value.field == field, (args, kwargs, caught.value)
        assert (await mem.tree("eve", agent_id="helper"))["counts"]["episodes"] == 1
        with pytest.raises(InvalidInputError) as bad:
            await mem.tree("", agent_id="bot7")
        assert bad.value.field == "user_id" and "None for an agent's own memories" in str(bad.value)
        with pytest.raises(InvalidInputError) as neither:
            await mem.tree()
        assert neither.value.field == "user_id"
        # a user forgotten, and an agent whose memories were all deleted one by one, have no tree
        await mem.delete_user("ana")
        with pytest.raises(NotFoundError):
            await mem.tree("ana")
        page = await mem.get_all(agent_id="bot7", limit=100)
        for m in page.items:
            if m.user_id is None:  # a preference may have gone with the turn that alone stated it
                with contextlib.suppress(NotFoundError):
                    await mem.delete(m.id)
        assert (None, "bot7") not in {(r["user_id"], r["agent_id"]) for r in await mem.users()}
        with pytest.raises(NotFoundError) as agent_gone:
            await mem.tree(agent_id="bot7")
        assert agent_gone.value.field == "agent_id"


async def test_memories_the_tiers_do_not_know_still_have_a_tree(make_memory: Callable[..., Any]) -> None:
    async with make_memory(enabled=False) as mem:
        await mem.add(GREETING, agent_id="bot7", run_id="s1")
        [row] = await mem.users()
        tree = await mem.tree(agent_id="bot7")
        _matches(tree, row)
        assert tree["tiers_enabled"] is False and tree["counts"]["untracked"] == 1


def test_the_sync_memory_serves_an_agents_tree(tmp_path: Path, embedder: USEEmbedder) -> None:
    with Memory(tier_settings(tmp_path), embedder=embedder) as m:
        m.add(GREETING, agent_id="bot7", run_id="s1")
        [row] = m.users()
        _matches(m.tree(agent_id="bot7"), row)
        with pytest.raises(NotFoundError):
            m.tree("bot7")


def test_an_agents_tree_over_http(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = tier_settings(tmp_path)
    with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        body = {"messages": GREETING, "agent_id": "bot7", "run_id": "s1"}
        assert c.post("/v1/memories", json=body).status_code == 200
        assert c.post("/v1/memories", json={"messages": "I keep bees", "user_id": "ana"}).status_code == 200
        rows = {(r["user_id"], r["agent_id"]): r for r in c.get("/v1/users").json()["results"]}
        reply = c.get("/v1/agents/bot7/tree", params={"episodes": 1})
        assert reply.status_code == 200, reply.text
        _matches(reply.json(), rows[(None, "bot7")])
        assert reply.json()["short_term"][0]["episodes"][0]["text"] == GREETING
        _matches(c.get("/v1/users/ana/tree").json(), rows[("ana", None)])  # the user route still works

        nobody = error_of(c.get("/v1/users/nobody/tree"), 404)
        assert nobody["code"] == "not_found" and nobody["field"] == "user_id" and "'nobody'" in nobody["message"]
        assert error_of(c.get("/v1/users/bot7/tree"), 404)["field"] == "user_id"
        assert error_of(c.get("/v1/users/ana/tree", params={"agent_id": "ghost"}), 404)["field"] == "agent_id"
        ghost = error_of(c.get("/v1/agents/ghost/tree"), 404)
        assert ghost["code"] == "not_found" and ghost["field"] == "agent_id" and "'ghost'" in ghost["message"]
        assert c.get("/v1/agents/bot7/tree", params={"episodes": -1}).status_code == 422

        # a user key reads its own user's tree, never an agent's own memories (of no user)
        admin = bearer(new_key(settings, "admin"))
        ana = bearer(new_key(settings, "user", user_id="ana"))
        assert c.get("/v1/agents/bot7/tree", headers=admin).status_code == 200
        assert c.get("/v1/users/ana/tree", headers=ana).status_code == 200
        assert error_of(c.get("/v1/agents/bot7/tree", headers=ana), 404)["field"] == "agent_id"


def test_the_tree_command_serves_an_agent_alone(run: Run) -> None:  # noqa: F811
    assert run("add", GREETING, "-a", "bot7", "--run-id", "s1").exit_code == 0
    shown = run("tree", "-a", "bot7")
    assert shown.exit_code == 0, shown.stderr
    assert "memory of (no user) / bot7" in shown.stdout and "1 short-term turn," in shown.stdout
    doc = as_json(run("tree", "-a", "bot7", "--json"))
    assert (doc["user_id"], doc["agent_id"], doc["counts"]["episodes"]) == (None, "bot7", 1)
    expect_error(run("tree", "-u", "bot7"), 1, "no memories or turns of user 'bot7'", "--user-id")
    expect_error(run("tree", "-a", "ghost"), 1, "'ghost'", "--agent-id")
    expect_error(run("tree"), 2, "--user-id")  # no owner given: the command line is wrong
