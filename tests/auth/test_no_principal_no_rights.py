"""A request the auth middleware did not see has no rights (401), except on the paths that are
open anyway (``/metrics``, the health probes). Before, the routes took a request without a caller
for an anonymous admin: an app serving memoryd's routes without the middleware gave anyone every
tenant's memories and minted admin keys for them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from memoryd import AsyncMemory, Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import LocalRedis
from memoryd.server import create_app
from memoryd.server.auth import AuthMiddleware
from tests.api.conftest import error_of, running_app, running_server
from tests.auth.conftest import bearer, new_key
from tests.mcp.test_http import rpc
from tests.pipeline.conftest import INSTALL_HINT, _install_redis_server, pipeline_settings

PROBES = ("/health", "/health/live", "/health/ready", "/metrics")


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    """A store with the async pipeline on (so ``/metrics`` asks who calls), on a Redis of its own."""
    if _install_redis_server() is None:
        pytest.skip(f"redis-server is not installed and cannot be installed here: {INSTALL_HINT}")
    with LocalRedis(tmp_path / "redis", appendonly=False) as redis:
        yield pipeline_settings(tmp_path / "data" / "memoryd.db", redis.url, "no-principal:")


def test_routes_served_without_the_auth_middleware_refuse_everyone_but_the_probes(
    settings: Settings, embedder: USEEmbedder
) -> None:
    admin = bearer(new_key(settings, "admin"))
    memory = AsyncMemory(settings, embedder=embedder)
    app = create_app(settings, memory=memory)
    # memoryd's routes in an app without its authentication (say, mounted into another one)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not AuthMiddleware]
    with running_app(app, after=memory.close) as url, httpx.Client(base_url=url, timeout=30) as c:
        for key in ({}, admin):  # no key is checked at all, so none helps
            error_of(c.get("/v1/users", headers=key), 401)
            error_of(
                c.post("/v1/memories", json={"messages": "I live in Oslo", "user_id": "u"}, headers=key), 401
            )
            error_of(c.post("/v1/admin/keys", json={"role": "admin"}, headers=key), 401)
            refused = c.post("/mcp", json=rpc(1, "ping"), headers={"Accept": "application/json", **key})
            assert refused.status_code == 401 and refused.json()["error"]["data"]["code"] == "unauthorized"
            for path in PROBES:
                assert c.get(path, headers=key).status_code == 200, path
        assert "memoryd_pipeline_enabled 1" in c.get("/metrics").text


def test_probes_and_metrics_answer_with_and_without_keys_and_open_mode_is_unchanged(
    settings: Settings, embedder: USEEmbedder
) -> None:
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        # open mode (loopback, no key): every local caller is an admin, as before
        added = c.post("/v1/memories", json={"messages": "I live in Oslo", "user_id": "u"})
        assert added.status_code == 202, added.text
        assert c.get("/v1/users").status_code == 200
        assert all(c.get(path).status_code == 200 for path in PROBES)
        assert c.post("/mcp", json=rpc(1, "ping"), headers={"Accept": "application/json"}).status_code == 200
        admin = bearer(new_key(settings, "admin"))  # keys are now required
        error_of(c.get("/v1/users"), 401)
        assert c.get("/v1/users", headers=admin).status_code == 200
        for key in ({}, admin):
            assert all(c.get(path, headers=key).status_code == 200 for path in PROBES)
            assert "memoryd_pipeline_enabled 1" in c.get("/metrics", headers=key).text
