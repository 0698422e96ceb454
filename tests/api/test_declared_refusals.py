"""The refusals of a server with API keys (401 no key, 403 a user key erasing the store, 429 over
the rate limit), over real HTTP, each match what ``/openapi.json`` declares for its route and
status: they were answered but not documented."""

from __future__ import annotations

from pathlib import Path

import httpx

from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import error_of, make_settings, running_server
from tests.api.schema_check import SchemaCheck
from tests.auth.conftest import bearer, new_key, with_auth


def test_auth_refusals_are_documented_for_their_routes(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = with_auth(
        make_settings(tmp_path / "data" / "memoryd.db"), required="always", rate_limit_per_s=0.01,
        rate_limit_burst=3,
    )  # fmt: skip
    user = bearer(new_key(settings, "user", tenant="acme", user_id="alice"))
    service = bearer(new_key(settings, "service", tenant="acme"))
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        check = SchemaCheck(c.get("/openapi.json", headers=service).json())
        for path in ("/v1/reset", "/reset"):
            refused = c.post(path, headers=user)
            assert error_of(refused, 403)
            check.validate(refused, path)
        for method, path, url in [
            ("POST", "/memories", "/memories"),
            ("GET", "/v1/memories", "/v1/memories?user_id=alice"),
            ("POST", "/search", "/search"),
        ]:
            refused = c.request(method, url, json={"query": "q", "user_id": "alice"})
            assert error_of(refused, 401)
            check.validate(refused, path)
        # Two of the key's burst of three went on the resets: the second read is over its limit.
        answers = [c.get("/v1/memories", params={"user_id": "alice"}, headers=user) for _ in range(2)]
        assert [a.status_code for a in answers] == [200, 429], [a.text for a in answers]
        check.validate(answers[1], "/v1/memories")
