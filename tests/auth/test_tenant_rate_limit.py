"""``auth.tenant_rate_limit_per_s``: all keys of a tenant share one budget, so a service key
cannot multiply its tenant's rate by minting user keys (each had a full bucket of its own: the
service key was refused, the keys it had just made were not). Other tenants keep theirs, and
admin keys (which act in any tenant) are not counted against one."""

from __future__ import annotations

import httpx

from memoryd.config import Settings
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import error_of, running_server
from tests.auth.conftest import bearer, new_key, with_auth
from tests.mcp.test_http import HEADERS, rpc


def test_a_tenants_keys_share_its_budget(auth_settings: Settings, embedder: USEEmbedder) -> None:
    settings = with_auth(
        auth_settings, required="always", rate_limit_per_s=0.01, rate_limit_burst=3,
        tenant_rate_limit_per_s=0.01, tenant_rate_limit_burst=4,
    )  # fmt: skip
    service = bearer(new_key(settings, "service", tenant="t1"))
    minted = [bearer(new_key(settings, "user", tenant="t1", user_id=f"u{i}")) for i in range(3)]
    other = bearer(new_key(settings, "service", tenant="t2"))
    admin = bearer(new_key(settings, "admin"))
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url) as c:
        codes = [c.get("/v1/memories", params={"user_id": "u0"}, headers=service).status_code for _ in range(2)]
        codes += [c.get("/v1/memories", headers=key).status_code for key in minted]
        assert codes == [200, 200, 200, 200, 429]  # four for the whole tenant, not three per key
        refused = c.get("/v1/memories", headers=minted[2])
        assert "this API key's tenant" in error_of(refused, 429)["message"]
        assert int(refused.headers["retry-after"]) >= 1
        batch = [rpc(i, "ping") for i in range(2)]
        assert c.post("/mcp", json=batch, headers={**HEADERS, **minted[0]}).status_code == 429
        assert c.get("/v1/memories", params={"user_id": "x"}, headers=other).status_code == 200  # its own
        for _ in range(3):  # t1 has spent its budget; an admin has none to spend
            assert c.get("/v1/users", headers={**admin, "X-Memoryd-Tenant": "t1"}).status_code == 200


def test_off_by_default(auth_settings: Settings) -> None:
    assert auth_settings.auth.tenant_rate_limit_per_s == 0
