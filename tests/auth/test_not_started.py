"""Before the key store is open (the lifespan has not run, or has shut down) no route answers
unauthenticated: every path but the probes' and the docs' is a 503. ``GET /v1/models`` needs no
store, and listed every model with its upstream's address to a caller without a key."""

from __future__ import annotations

from pathlib import Path

import httpx

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.server import create_app
from tests.api.conftest import error_of
from tests.auth.conftest import new_key
from tests.gateway.conftest import gateway_settings

UPSTREAM = {"provider": "custom", "model": "m1", "base_url": "http://10.9.8.7:9/v1", "api_key": "sk-up"}


async def test_nothing_is_answered_without_a_key_before_the_key_store_is_open(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    settings = gateway_settings(tmp_path / "memoryd.db", [[UPSTREAM]])
    new_key(settings, "admin")  # keys are required
    memory = AsyncMemory(settings, embedder=embedder)
    app = create_app(settings, memory=memory)  # the lifespan never runs: no key store is open
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as c:
            assert (await c.get("/health/live")).status_code == 200
            for path in ("/v1/models", "/v1/models/m1", "/v1/memories", "/v1/admin/keys"):
                r = await c.get(path, params={"user_id": "alice"} if path == "/v1/memories" else None)
                assert r.status_code == 503, (path, r.text)
                assert "10.9.8.7" not in r.text
            error_of(await c.get("/v1/memories", params={"user_id": "alice"}), 503)
    finally:
        await memory.close()
