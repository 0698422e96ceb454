"""``POST /mcp`` with a message naming a key twice in one object (two ``arguments``, two
``user_id``) is refused with a JSON-RPC error naming the key, over real HTTP, as ``/v1`` refuses
such a body: a JSON parser keeps the last value, so a tool could act for another user than meant.
``-32602`` (invalid params) for a key of ``params``, ``-32600`` (invalid request) for a member of
the message itself; nothing runs.

Each test failed on the code before its fix (the last value was taken and the tool ran).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import make_settings, running_server

JSON = {"content-type": "application/json"}
CELLO = '"messages": "I play the cello."'


@pytest.fixture
def client(tmp_path: Path, embedder: USEEmbedder) -> Iterator[httpx.Client]:
    settings = make_settings(tmp_path / "m.db")
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        yield c


def add(user: str) -> str:
    return f'{{{CELLO}, "user_id": "{user}"}}'


def call(request_id: int, params: str) -> str:
    return f'{{"jsonrpc": "2.0", "id": {request_id}, "method": "tools/call", "params": {params}}}'


def _refused(response: httpx.Response, rpc_code: int, field: str, request_id: Any) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] == request_id, body
    error = body["error"]
    assert error["code"] == rpc_code and error["data"] == {"code": "invalid_input", "field": field}, error
    assert f"{field} is given more than once" in error["message"], error


def _stored(client: httpx.Client, user: str) -> int:
    r = client.get("/v1/memories", params={"user_id": user})
    assert r.status_code == 200, r.text
    total: int = r.json()["total"]
    return total


@pytest.mark.parametrize(
    ("params", "field"),
    [
        (f'{{"name": "add_memory", "arguments": {add("alice")}, "arguments": {add("bob")}}}', "params.arguments"),
        (f'{{"name": "add_memory", "arguments": {{{CELLO}, "user_id": "alice", "user_id": "bob"}}}}',
         "params.arguments.user_id"),
        (f'{{"name": "search_memories", "name": "add_memory", "arguments": {add("bob")}}}', "params.name"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("headers", [JSON, {}])  # a body without a Content-Type is read as JSON
def test_a_key_of_params_given_twice_is_invalid_params_and_nothing_runs(
    client: httpx.Client, params: str, field: str, headers: dict[str, str]
) -> None:
    _refused(client.post("/mcp", content=call(5, params), headers=headers), -32602, field, 5)
    assert _stored(client, "alice") == _stored(client, "bob") == 0
    once = call(6, f'{{"name": "add_memory", "arguments": {add("bob")}}}')  # the same, each key once
    fine = client.post("/mcp", content=once, headers=headers)
    assert fine.status_code == 200 and "result" in fine.json(), fine.text
    assert _stored(client, "bob") == 1


def test_a_member_of_the_message_given_twice_is_an_invalid_request(client: httpx.Client) -> None:
    params = f'"params": {{"name": "add_memory", "arguments": {add("bob")}}}'
    method = f'{{"jsonrpc": "2.0", "id": 3, "method": "ping", "method": "tools/call", {params}}}'
    _refused(client.post("/mcp", content=method, headers=JSON), -32600, "method", 3)
    twice_id = f'{{"jsonrpc": "2.0", "id": 3, "id": 4, "method": "tools/call", {params}}}'
    _refused(client.post("/mcp", content=twice_id, headers=JSON), -32600, "id", None)  # whose: neither
    note = (
        '{"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1, "requestId": 2}}'
    )
    _refused(client.post("/mcp", content=note, headers=JSON), -32602, "params.requestId", None)
    assert _stored(client, "bob") == 0


def test_a_batch_with_a_key_given_twice_is_refused_whole(client: httpx.Client) -> None:
    first = call(1, f'{{"name": "add_memory", "arguments": {add("carol")}}}')
    second = call(
        2, f'{{"name": "add_memory", "arguments": {{{CELLO}, "user_id": "alice", "user_id": "bob"}}}}'
    )
    headers = {**JSON, "MCP-Protocol-Version": "2025-03-26"}  # the last revision with batches
    refused = client.post("/mcp", content=f"[{first}, {second}]", headers=headers)
    _refused(refused, -32602, "1.params.arguments.user_id", None)
    assert _stored(client, "alice") == _stored(client, "bob") == _stored(client, "carol") == 0
