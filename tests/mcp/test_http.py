"""``POST /mcp`` on a real server (uvicorn, loopback): the Streamable HTTP transport, with keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import make_settings, running_server
from tests.auth.conftest import bearer, new_key


@pytest.fixture
def client(tmp_path: Path, embedder: USEEmbedder) -> Iterator[httpx.Client]:
    settings = make_settings(tmp_path / "m.db")
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        yield c


HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}


def rpc(request_id: int | None, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if request_id is not None:
        message["id"] = request_id
    if params is not None:
        message["params"] = params
    return message


def call(tool: str, **arguments: Any) -> dict[str, Any]:
    return rpc(7, "tools/call", {"name": tool, "arguments": arguments})


def test_a_session_over_http(client: httpx.Client) -> None:
    init = client.post(
        "/mcp", json=rpc(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}})
    )
    assert init.status_code == 200 and init.json()["result"]["protocolVersion"] == "2025-06-18"
    assert "mcp-session-id" not in init.headers  # stateless: any process answers any request
    note = client.post("/mcp", json=rpc(None, "notifications/initialized"), headers=HEADERS)
    assert note.status_code == 202 and note.content == b""
    tools = client.post("/mcp", json=rpc(2, "tools/list"), headers=HEADERS).json()["result"]["tools"]
    assert len(tools) == 8

    added = client.post(
        "/mcp", json=call("add_memory", user_id="ana", messages="I play the cello."), headers=HEADERS
    )
    [item] = added.json()["result"]["structuredContent"]["results"]
    assert item["event"] == "ADD" and item["memory"] == "I play the cello."
    assert "record" not in item  # what the model reads: the item names its memory once
    found = client.post(
        "/mcp", json=call("search_memories", user_id="ana", query="instrument"), headers=HEADERS
    )
    hits = found.json()["result"]["structuredContent"]["results"]
    assert hits[0]["memory"] == "I play the cello."
    # the same memory through the REST API: one store
    assert client.get("/v1/memories", params={"user_id": "ana"}).json()["total"] == 1

    old = client.post("/mcp", json=call("search_memories", user_id="ana", query="instrument"))
    assert "structuredContent" not in old.json()["result"]  # no header: 2025-03-26, text only


def test_transport_errors(client: httpx.Client) -> None:
    bad_version = client.post("/mcp", json=rpc(1, "ping"), headers={"MCP-Protocol-Version": "1999-01-01"})
    assert bad_version.status_code == 400 and "1999-01-01" in bad_version.json()["error"]["message"]
    not_json = client.post("/mcp", content=b"{nope", headers={"content-type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == -32700
    no_message = client.post("/mcp", json={"id": 3, "method": "ping"})  # no "jsonrpc": "2.0", but an id
    assert no_message.status_code == 200 and no_message.json()["id"] == 3
    assert client.get("/mcp").status_code == 405
    browser = client.post("/mcp", json=rpc(1, "ping"), headers={"Origin": "http://evil.example"})
    assert browser.status_code == 403 and browser.json()["error"]["data"]["field"] == "Origin"
    local = client.post("/mcp", json=rpc(1, "ping"), headers={"Origin": "http://localhost:3000"})
    assert local.status_code == 200 and local.json()["result"] == {}
    batch = client.post("/mcp", json=[rpc(1, "ping"), rpc(2, "ping")])  # no header: 2025-03-26, batches
    assert sorted(m["id"] for m in batch.json()) == [1, 2]


def test_keys_decide_who_the_tools_act_for(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = make_settings(tmp_path / "keys.db")
    service = bearer(new_key(settings, "service"))
    alice = bearer(new_key(settings, "user", user_id="alice"))
    with (
        running_server(settings, embedder) as running,
        httpx.Client(base_url=running.url, timeout=30) as client,
    ):
        _as_service_and_alice(client, service, alice)


def _as_service_and_alice(client: httpx.Client, service: dict[str, str], alice: dict[str, str]) -> None:
    assert client.post("/mcp", json=rpc(1, "ping")).status_code == 401  # keys exist: one is needed

    secret = client.post("/mcp", json=call("add_memory", user_id="bob", messages="Bob's PIN is 5521."),
                         headers={**HEADERS, **service})  # fmt: skip
    bobs_id = secret.json()["result"]["structuredContent"]["results"][0]["id"]

    tools = client.post("/mcp", json=rpc(2, "tools/list"), headers={**HEADERS, **alice}).json()["result"][
        "tools"
    ]
    assert all("user_id" not in t["inputSchema"]["properties"] for t in tools)  # a user key: bound
    as_bob = client.post(
        "/mcp", json=call("search_memories", user_id="bob", query="PIN"), headers={**HEADERS, **alice}
    )
    assert as_bob.json()["result"]["isError"] is True
    mine = client.post("/mcp", json=call("search_memories", query="PIN"), headers={**HEADERS, **alice})
    assert mine.json()["result"]["structuredContent"]["results"] == []
    by_id = client.post("/mcp", json=call("get_memory", memory_id=bobs_id), headers={**HEADERS, **alice})
    assert "not_found" in by_id.json()["result"]["content"][0]["text"]
    added = client.post("/mcp", json=call("add_memory", messages="I like tea."), headers={**HEADERS, **alice})
    assert added.json()["result"]["structuredContent"]["results"][0]["event"] == "ADD"
    listed = client.get("/v1/memories", params={"user_id": "alice"}, headers=service).json()
    assert "I like tea." in [m["memory"] for m in listed["results"]]  # stored as alice's
    assert all(m["user_id"] == "alice" for m in listed["results"])


def test_hostile_bodies_and_origins_are_answered(client: httpx.Client) -> None:
    deep = client.post("/mcp", content=b"[" * 100_000, headers={"content-type": "application/json"})
    assert deep.status_code == 400 and deep.json()["error"]["code"] == -32700
    surrogate = client.post(
        "/mcp", content=b'{"jsonrpc": "2.0", "id": 8, "method": "\\ud800"}', headers=HEADERS
    )  # the answer names the method: a lone surrogate, not UTF-8
    assert surrogate.status_code == 200 and surrogate.json()["error"]["code"] == -32601
    odd_id = client.post("/mcp", content=b'{"jsonrpc": "2.0", "id": "\\udfff", "method": "ping"}')
    assert odd_id.status_code == 200 and odd_id.json() == {"jsonrpc": "2.0", "id": "\udfff", "result": {}}
    for origin in ("http://[", "http://[::1"):  # not a URL: no host, refused
        refused = client.post("/mcp", json=rpc(1, "ping"), headers={"Origin": origin})
        assert refused.status_code == 403 and refused.json()["error"]["data"]["field"] == "Origin"
