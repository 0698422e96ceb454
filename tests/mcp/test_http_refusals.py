"""``POST /mcp`` refused before the MCP session reads it answers a JSON-RPC 2.0 error, over real HTTP.

A body that was not UTF-8, or over ``limits.max_body_bytes``, was refused by the body limit
middleware in the REST API's shape (``{"error": {"code": "invalid_body", ...}}``), which an MCP
client cannot read as a JSON-RPC answer; the same bodies elsewhere keep the REST shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import MAX_BODY_BYTES, make_settings, running_server

JSON = {"content-type": "application/json"}
LATIN1 = b'{"jsonrpc": "2.0", "id": 1, "method": "caf\xe9"}'  # "café" in Latin-1: not UTF-8
TOO_BIG = (
    b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "' + b"x" * MAX_BODY_BYTES + b'"}}'
)


@pytest.fixture
def client(tmp_path: Path, embedder: USEEmbedder) -> Iterator[httpx.Client]:
    settings = make_settings(tmp_path / "m.db")
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        yield c


def _rpc_error(response: httpx.Response, status: int, rpc_code: int) -> dict[str, Any]:
    """The JSON-RPC 2.0 error of a refused request (no id: it was never read)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"jsonrpc", "id", "error"} and body["jsonrpc"] == "2.0" and body["id"] is None, body
    error = body["error"]
    assert error["code"] == rpc_code and isinstance(error["message"], str) and error["message"], error
    return dict(error)


def test_a_body_that_is_not_utf8_is_a_jsonrpc_parse_error(client: httpx.Client) -> None:
    error = _rpc_error(client.post("/mcp", content=LATIN1, headers=JSON), 400, -32700)
    assert "not valid UTF-8" in error["message"] and error["data"] == {
        "code": "invalid_body",
        "field": "body",
    }
    _rpc_error(client.post("/mcp/", content=LATIN1, headers=JSON), 400, -32700)  # the same path
    # the REST API keeps its own shape
    rest = client.post("/v1/memories", content=LATIN1, headers=JSON)
    assert rest.status_code == 400 and rest.json()["error"]["code"] == "invalid_body"


def test_an_oversized_body_is_a_jsonrpc_invalid_request(client: httpx.Client) -> None:
    declared = client.post("/mcp", content=TOO_BIG, headers=JSON)  # refused by its Content-Length
    error = _rpc_error(declared, 413, -32600)
    assert error["data"] == {
        "code": "payload_too_large", "field": "body", "details": {"limit_bytes": MAX_BODY_BYTES},
    }  # fmt: skip

    def chunked() -> Iterator[bytes]:  # no Content-Length: refused as it streams past the limit
        for start in range(0, len(TOO_BIG), 64 * 1024):
            yield TOO_BIG[start : start + 64 * 1024]

    _rpc_error(client.post("/mcp", content=chunked(), headers=JSON), 413, -32600)
    rest = client.post("/v1/memories", content=TOO_BIG, headers=JSON)
    assert rest.status_code == 413 and rest.json()["error"]["code"] == "payload_too_large"


def test_other_refusals_before_the_session_are_jsonrpc_too(client: httpx.Client) -> None:
    query = client.post("/mcp?user_id=%FF", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert _rpc_error(query, 400, -32600)["data"]["field"] == "user_id"
    put = client.put("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    _rpc_error(put, 405, -32600)
    assert "POST" in put.headers["allow"]
    fine = client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert fine.status_code == 200 and fine.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
