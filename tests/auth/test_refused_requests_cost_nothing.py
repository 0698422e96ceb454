"""A request refused with 429 costs nothing: the key's own bucket is not spent when its tenant's
budget refuses it (each refused retry drained the key, which then stayed refused by its own limit
once its tenant's budget had refilled)."""

from __future__ import annotations

import time

import httpx

from memoryd.config import Settings
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import error_of, running_server
from tests.auth.conftest import bearer, new_key, with_auth


def test_a_request_its_tenant_refuses_does_not_spend_the_keys_own_budget(
    auth_settings: Settings, embedder: USEEmbedder
) -> None:
    settings = with_auth(
        auth_settings, required="always", rate_limit_per_s=0.001, rate_limit_burst=2,
        tenant_rate_limit_per_s=2, tenant_rate_limit_burst=1,
    )  # fmt: skip
    service = bearer(new_key(settings, "service", tenant="t1"))
    user = bearer(new_key(settings, "user", tenant="t1", user_id="u0"))
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url) as c:
        assert c.get("/v1/memories", params={"user_id": "u0"}, headers=service).status_code == 200
        for _ in range(2):  # the tenant's one request is spent: refused, whoever's key it is
            refused = c.get("/v1/memories", headers=user)
            assert "this API key's tenant" in error_of(refused, 429)["message"]
        time.sleep(1.0)  # the tenant's budget refills (2/s); the key's own (0.001/s) barely moves
        assert c.get("/v1/memories", headers=user).status_code == 200  # its own budget unspent
