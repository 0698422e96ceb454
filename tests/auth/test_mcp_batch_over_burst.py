"""An MCP batch of more calls than a rate-limit burst can never be let through, however long the
client waits: it is refused with 413 and a JSON-RPC error naming the burst, without
``Retry-After``, before any of its calls is counted. Before, it was a 429 with ``Retry-After: 1``,
which a client retries for ever."""

from __future__ import annotations

from typing import Any

import httpx

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import running_server
from tests.auth.conftest import bearer, new_key, with_auth
from tests.mcp.test_http import rpc

JSON = {"Accept": "application/json"}  # no MCP-Protocol-Version: 2025-03-26, which has batches


def _pings(n: int) -> list[dict[str, Any]]:
    return [rpc(i, "ping") for i in range(n)]


def _too_large(r: httpx.Response, calls: int, burst: int, whose: str) -> None:
    assert r.status_code == 413, r.text
    assert "retry-after" not in r.headers
    body = r.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    error = body["error"]
    assert error["code"] == -32600 and error["data"]["code"] == "payload_too_large", error
    assert error["data"]["details"] == {"calls": calls, "burst": burst}
    assert f"{whose} burst of {burst}" in error["message"]
    assert f"send at most {burst} messages per request" in error["message"]


def test_a_batch_over_the_burst_is_a_413_that_spends_none_of_its_calls(
    auth_settings: Settings, embedder: USEEmbedder
) -> None:
    settings = with_auth(
        auth_settings, required="always", rate_limit_per_s=0.01, rate_limit_burst=10,
        tenant_rate_limit_per_s=0.01, tenant_rate_limit_burst=3,
    )  # fmt: skip
    admin = {**JSON, **bearer(new_key(settings, "admin"))}
    service = {**JSON, **bearer(new_key(settings, "service", tenant="t1"))}
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        _too_large(c.post("/mcp", json=_pings(11), headers=admin), 11, 10, "this API key's")
        _too_large(c.post("/mcp", json=_pings(4), headers=service), 4, 3, "this API key's tenant's")
        # the refused batch cost its request only (as any request does): two of t1's three are left
        fits = c.post("/mcp", json=_pings(2), headers=service)
        assert fits.status_code == 200 and len(fits.json()) == 2, fits.text
        spent = c.post("/mcp", json=rpc(9, "ping"), headers=service)
        assert spent.status_code == 429 and int(spent.headers["retry-after"]) >= 1  # now a wait helps
        # an admin key has no tenant's budget: its batch is measured against its own burst only
        mine = c.post("/mcp", json=_pings(4), headers={**admin, "X-Memoryd-Tenant": "t1"})
        assert mine.status_code == 200 and len(mine.json()) == 4, mine.text
