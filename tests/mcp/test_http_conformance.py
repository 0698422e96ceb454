"""``POST /mcp`` against MCP's Streamable HTTP transport, over real HTTP (uvicorn, loopback): batches
only before 2025-06-18 (which removed them), ``tools/list`` cursors, the media types of a POST
(415 / 406) and the ``Origin`` a browser sends (403 unless loopback or the server's own host)."""

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


def rpc(request_id: Any, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def at(version: str) -> dict[str, str]:
    return {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": version}


def refusal(response: httpx.Response, status: int, rpc_code: int) -> dict[str, Any]:
    """A JSON-RPC error answering a request the server would not take (no id: none was read)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None and body["error"]["code"] == rpc_code, body
    return dict(body["error"])


def test_a_batch_is_refused_from_2025_06_18_on_and_taken_before(client: httpx.Client) -> None:
    add = rpc(1, "tools/call", {"name": "add_memory", "arguments": {"user_id": "ana", "messages": "I sail."}})
    for version in ("2025-06-18", "2025-11-25"):
        refused = client.post("/mcp", json=[add, rpc(2, "ping")], headers=at(version))
        error = refusal(refused, 400, -32600)
        assert "2025-06-18" in error["message"] and version in error["message"]
        notes = [{"jsonrpc": "2.0", "method": "notifications/initialized"}]
        refusal(client.post("/mcp", json=notes, headers=at(version)), 400, -32600)  # not a bare 202
    assert client.get("/v1/memories", params={"user_id": "ana"}).json()["total"] == 0  # nothing ran
    alone = client.post("/mcp", json=rpc(3, "ping"), headers=at("2025-06-18"))  # one message: served
    assert alone.status_code == 200 and alone.json() == {"jsonrpc": "2.0", "id": 3, "result": {}}

    for version in ("2025-03-26", "2024-11-05"):
        taken = client.post("/mcp", json=[rpc(4, "ping"), rpc(5, "tools/list")], headers=at(version))
        assert taken.status_code == 200, taken.text
        assert sorted(m["id"] for m in taken.json()) == [4, 5]


def test_tools_list_takes_no_cursor_it_never_gave(client: httpx.Client) -> None:
    plain = client.post("/mcp", json=rpc(1, "tools/list"), headers=at("2025-06-18")).json()["result"]
    assert len(plain["tools"]) == 8 and "nextCursor" not in plain  # every tool, on the one page
    null = client.post("/mcp", json=rpc(2, "tools/list", {"cursor": None}), headers=at("2025-06-18"))
    assert null.json()["result"] == plain  # a null cursor is no cursor
    for cursor in ("abc", "", 3, {"page": 2}):
        invalid = client.post("/mcp", json=rpc(9, "tools/list", {"cursor": cursor}), headers=at("2025-06-18"))
        body = invalid.json()
        assert invalid.status_code == 200 and body["id"] == 9, body
        assert body["error"]["code"] == -32602 and "cursor" in body["error"]["message"] and "result" not in body


def test_a_post_not_sent_as_json_is_415_and_one_that_takes_no_json_406(client: httpx.Client) -> None:
    ping = b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx"):
        refused = client.post("/mcp", content=ping, headers={**at("2025-06-18"), "Content-Type": content_type})
        error = refusal(refused, 415, -32600)
        assert error["data"] == {"code": "unsupported_media_type", "field": "Content-Type"}, error
    for accept in ("text/html", "text/event-stream", "*/*, application/json;q=0", "application/json;q=0"):
        refused = client.post("/mcp", json=rpc(1, "ping"), headers={"Accept": accept})
        error = refusal(refused, 406, -32600)
        assert error["data"] == {"code": "not_acceptable", "field": "Accept"}, error
    served = [
        {"Content-Type": "application/json; charset=utf-8"},
        {"Content-Type": "Application/JSON", "Accept": "application/*"},
        {"Accept": "*/*"},
        {"Accept": "application/json"},
        {"Accept": "text/event-stream, application/json;q=0.5"},
    ]
    for headers in served:
        fine = client.post("/mcp", content=ping, headers={"Content-Type": "application/json", **headers})
        assert fine.status_code == 200 and fine.json()["result"] == {}, (headers, fine.text)
    bare = client.post("/mcp", content=ping, headers={"Accept": ""})  # neither header: read as JSON
    assert bare.status_code == 200 and bare.json()["result"] == {}


def test_an_origin_is_served_from_loopback_and_the_servers_own_host_only(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    base = make_settings(tmp_path / "m.db")
    settings = base.model_copy(update={"server": base.server.model_copy(update={"host": "memoryd.lan"})})
    key = bearer(new_key(settings, "admin"))  # off loopback: keys are required
    ping = rpc(1, "ping")
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        for origin in (None, "http://memoryd.lan:8420", "https://MEMORYD.LAN", "http://127.0.0.1:5173"):
            headers = {**key, **({"Origin": origin} if origin else {})}
            served = c.post("/mcp", json=ping, headers=headers)
            assert served.status_code == 200 and served.json()["result"] == {}, (origin, served.text)
        for origin in ("http://evil.example", "http://memoryd.lan.evil.example", "null", "http://lan"):
            refused = c.post("/mcp", json=ping, headers={**key, "Origin": origin})
            assert refused.status_code == 403, (origin, refused.text)
            assert refused.json()["error"]["data"] == {"code": "forbidden", "field": "Origin"}


def test_a_wildcard_bind_is_no_host_an_origin_may_name(tmp_path: Path, embedder: USEEmbedder) -> None:
    base = make_settings(tmp_path / "m.db")
    settings = base.model_copy(update={"server": base.server.model_copy(update={"host": "0.0.0.0"})})
    key = bearer(new_key(settings, "admin"))
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        for origin in ("http://0.0.0.0:8420", "http://evil.example"):
            refused = c.post("/mcp", json=rpc(1, "ping"), headers={**key, "Origin": origin})
            assert refused.status_code == 403, (origin, refused.text)
