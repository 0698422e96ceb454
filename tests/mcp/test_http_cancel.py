"""``POST /mcp`` with a batch holding a request and a ``notifications/cancelled`` for it, over real HTTP.

It was answered ``202`` with no body, as a batch of notifications alone is, though the batch held
a request and (for a write) the write ran and stored: the client never learned it. JSON-RPC 2.0
wants a response for each request of a batch, MCP's transport a JSON answer for a POST holding a
request (``202`` only for notifications and responses), and MCP's cancellation no response for a
request the cancel actually stopped, while a receiver may ignore a cancel that cannot stop one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import make_settings, running_server

# batches: 2025-03-26, the last revision with them (2025-06-18 removed them)
HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-03-26"}


@pytest.fixture
def client(tmp_path: Path, embedder: USEEmbedder) -> Iterator[httpx.Client]:
    settings = make_settings(tmp_path / "m.db")
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        yield c


def call(request_id: Any, tool: str, **arguments: Any) -> dict[str, Any]:
    params = {"name": tool, "arguments": arguments}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def cancel(request_id: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": request_id}}


def answered(response: httpx.Response) -> dict[Any, dict[str, Any]]:
    """A batch's answer: 200, a JSON array, by id."""
    assert response.status_code == 200 and response.content, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, list) and body, body
    return {m["id"]: m for m in body}


def test_a_write_the_cancel_cannot_stop_is_answered(client: httpx.Client) -> None:
    add = call(1, "add_memory", user_id="ana", messages="I keep bees on the roof.")
    got = answered(client.post("/mcp", json=[add, cancel(1)], headers=HEADERS))
    assert set(got) == {1}
    result = got[1]["result"]
    stated = json.loads(result["content"][0]["text"])  # 2025-03-26: text only, no structuredContent
    assert result["isError"] is False and stated["results"][0]["event"] == "ADD"
    stored = client.get("/v1/memories", params={"user_id": "ana"}).json()["results"]
    assert "I keep bees on the roof." in [m["memory"] for m in stored]  # what the answer said it stored


def test_a_read_the_cancel_stopped_is_not_answered_but_the_batch_is(client: httpx.Client) -> None:
    search = call(1, "search_memories", user_id="ana", query="bees")
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    got = answered(client.post("/mcp", json=[search, ping, cancel(1)], headers=HEADERS))
    assert got == {2: {"jsonrpc": "2.0", "id": 2, "result": {}}}  # the search was stopped: no answer

    alone = answered(client.post("/mcp", json=[search, cancel(1)], headers=HEADERS))  # never a bare 202
    assert set(alone) == {1} and alone[1]["error"]["code"] == -32800, alone
    assert "cancelled" in alone[1]["error"]["message"] and "result" not in alone[1]


def test_a_cancel_before_its_request_or_for_another_stops_nothing(client: httpx.Client) -> None:
    listing = call("a", "list_memories", user_id="ana")
    got = answered(client.post("/mcp", json=[cancel("a"), listing, cancel("zz")], headers=HEADERS))
    assert set(got) == {"a"} and got["a"]["result"]["isError"] is False


def test_notifications_alone_are_still_a_bare_202(client: httpx.Client) -> None:
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    for body in ([initialized, cancel(3)], cancel(3)):
        response = client.post("/mcp", json=body, headers=HEADERS)
        assert response.status_code == 202 and response.content == b"", response.text
