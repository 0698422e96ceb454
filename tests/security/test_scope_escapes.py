"""A user key (and a service key of another tenant) trying to reach another user's memories by
what a request may say besides ``user_id``: filter clauses naming the other user (``OR``,
``NOT``, ``in``, mem0's filters), an agent's or a session's scope, MCP tool arguments, and
spellings of the tenant header. Each answers 404 or the caller's own rows, never the other's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import error_of, make_settings, running_server
from tests.auth.conftest import bearer, new_key

SECRET = "bobsecret zebra pancake"
OTHERS: list[dict[str, Any]] = [
    {"user_id": "bob"},
    {"OR": [{"user_id": "bob"}, {"user_id": "alice"}]},
    {"user_id": {"in": ["bob", "alice"]}},
    {"NOT": {"user_id": "alice"}},
    {"$or": [{"agent_id": "ag1"}, {"run_id": "r1"}]},
]


class World:
    def __init__(self, client: httpx.Client, keys: dict[str, dict[str, str]]) -> None:
        self.c, self.keys = client, keys


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, embedder: USEEmbedder) -> Iterator[World]:
    settings = make_settings(tmp_path_factory.mktemp("escapes") / "memoryd.db")
    keys = {
        "acme": bearer(new_key(settings, "service", tenant="acme")),
        "zeta": bearer(new_key(settings, "service", tenant="zeta")),
        "alice": bearer(new_key(settings, "user", tenant="acme", user_id="alice")),
        "bob": bearer(new_key(settings, "user", tenant="acme", user_id="bob")),
    }
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        for who, body in (("bob", {"user_id": "bob"}), ("acme", {"agent_id": "ag1"}), ("acme", {"run_id": "r1"}),
                          ("alice", {})):  # fmt: skip
            text = "I like tea" if who == "alice" else f"I like {SECRET}"
            r = c.post("/v1/memories", json={"messages": text, **body}, headers=keys[who])
            assert r.status_code == 200, r.text
        yield World(c, keys)


def _rpc(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    params = {"name": tool, "arguments": arguments}
    return {"json": {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}}


def _attempts(filters: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    query = {"query": SECRET, "filters": filters}
    return [
        ("GET", "/v1/memories", {"params": {"filters": json.dumps(filters)}}),
        ("POST", "/v1/memories/list", {"json": {"filters": filters}}),
        ("POST", "/v1/memories/search", {"json": query}),
        ("POST", "/search", {"json": query}),
        ("POST", "/mcp", _rpc("search_memories", query)),
        ("POST", "/mcp", _rpc("list_memories", {"filters": filters})),
    ]


@pytest.mark.parametrize("filters", OTHERS)
def test_filters_naming_another_user_reach_nothing_of_theirs(world: World, filters: dict[str, Any]) -> None:
    for attacker in ("alice", "zeta"):
        for method, path, extra in _attempts(filters):
            r = world.c.request(method, path, headers=world.keys[attacker], **extra)
            assert r.status_code in (200, 404, 422), (attacker, path, r.text)
            assert SECRET not in r.text.replace("\\", ""), (attacker, path, filters)


def test_an_agents_or_a_sessions_scope_is_not_a_way_round_the_users(world: World) -> None:
    c, alice = world.c, world.keys["alice"]
    for scope in ({"agent_id": "ag1"}, {"run_id": "r1"}):
        for method, path, extra in (
            ("GET", "/v1/memories", {"params": scope}),
            ("GET", "/memories", {"params": scope}),
            ("POST", "/v1/memories/search", {"json": {"query": SECRET, **scope}}),
            ("POST", "/v1/context", {"json": {"query": SECRET, **scope}}),
            ("POST", "/mcp", _rpc("list_memories", scope)),
        ):
            r = c.request(method, path, headers=alice, **extra)
            assert r.status_code in (200, 404), (path, r.text)
            assert SECRET not in r.text, (path, r.text)
        assert c.delete("/memories", params=scope, headers=alice).status_code == 200  # alice's, none
    error_of(c.get("/v1/agents/ag1/tree", headers=alice), 404)
    listed = c.get("/v1/memories", params={"agent_id": "ag1"}, headers=world.keys["acme"]).json()
    assert SECRET in json.dumps(listed)  # the agent's memory is still there


def test_mcp_arguments_naming_another_user_are_refused(world: World) -> None:
    for tool, arguments in (("search_memories", {"query": SECRET, "user_id": "bob"}),
                            ("list_memories", {"user_id": "bob"}),
                            ("get_context", {"query": SECRET, "user_id": "bob"})):  # fmt: skip
        r = world.c.post("/mcp", headers=world.keys["alice"], **_rpc(tool, arguments))
        assert r.status_code == 200 and r.json()["result"]["isError"] is True, r.text
        assert SECRET not in r.text


@pytest.mark.parametrize("tenant", ["ACME", "../acme", "acme/../zeta", "acme", "default", "acme, zeta", ""])
def test_a_service_key_names_no_other_tenant(world: World, tenant: str) -> None:
    r = world.c.get("/v1/users", headers={**world.keys["zeta"], "X-Memoryd-Tenant": tenant})
    error_of(r, 404)
    assert "bob" not in r.text and "alice" not in r.text
