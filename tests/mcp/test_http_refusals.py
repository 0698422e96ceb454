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
from tests.auth.conftest import bearer, new_key, with_auth

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


def test_refusals_of_the_caller_are_jsonrpc_errors_with_their_http_status(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    """A missing or unknown key (401), a refused Origin (403), an unknown tenant (404) and a rate
    limit (429) on ``/mcp`` keep their HTTP status and headers, with a JSON-RPC error as the body
    whose ``data.code`` names the reason; the REST API keeps its own shape for the same refusals."""
    settings = with_auth(make_settings(tmp_path / "m.db"), rate_limit_per_s=0.01, rate_limit_burst=3)
    admin = bearer(new_key(settings, "admin"))
    ping = {"jsonrpc": "2.0", "id": 5, "method": "ping"}
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        missing = c.post("/mcp", json=ping)
        assert _rpc_error(missing, 401, -32600)["data"]["code"] == "unauthorized"
        assert missing.headers["www-authenticate"].startswith("Bearer")
        forged = c.post("/mcp", json=ping, headers=bearer("mdk_0123456789ab_forged"))
        assert "unknown or revoked" in _rpc_error(forged, 401, -32600)["message"]
        page = c.post("/mcp", json=ping, headers={**admin, "Origin": "http://evil.example"})
        assert _rpc_error(page, 403, -32600)["data"] == {"code": "forbidden", "field": "Origin"}
        search = {"name": "search_memories", "arguments": {"query": "tea", "user_id": "ana"}}
        typo = c.post(  # refused after the body was read: the answer carries the request's id
            "/mcp", json={"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": search},
            headers={**admin, "X-Memoryd-Tenant": "acmee"},
        )  # fmt: skip
        assert typo.status_code == 404 and typo.json()["id"] == 9, typo.text
        assert typo.json()["error"]["data"] == {"code": "not_found", "field": "X-Memoryd-Tenant"}
        busy = bearer(new_key(settings, "admin"))  # its own burst of 3
        assert [c.post("/mcp", json=ping, headers=busy).status_code for _ in range(3)] == [200] * 3
        limited = c.post("/mcp", json=ping, headers=busy)
        error = _rpc_error(limited, 429, -32600)
        assert error["data"]["code"] == "rate_limited" and error["data"]["details"]["retry_after_s"] > 0
        assert int(limited.headers["retry-after"]) >= 1
        rest = c.get("/v1/memories", params={"user_id": "ana"})
        assert rest.status_code == 401 and rest.json()["error"]["code"] == "unauthorized"
