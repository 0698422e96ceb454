"""``GET /v1/events/{id}`` opens the caller's tenant store only when it asks it (Redis unreachable).

Before: the route took the caller's memory as a dependency, so every lookup opened its tenant's
store, and made it for a tenant that had none: with the pipeline off (the 501 answer), and while
Redis answered alone. Now those lookups leave no store behind; one made while Redis is unreachable
still asks the store (which knows the events the synchronous path applied).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import LocalRedis, free_port
from tests.api.conftest import running_server
from tests.auth.conftest import bearer, new_key, with_auth
from tests.pipeline.conftest import pipeline_settings


def _lookup(settings: Settings, embedder: USEEmbedder) -> tuple[int, bool]:
    """The status of a lookup by a service key of tenant ``t1`` (which has no store yet), and
    whether ``t1``'s store folder exists afterwards."""
    settings = with_auth(settings, required="always")
    key = bearer(new_key(settings, "service", tenant="t1"))
    folder = settings.tenants_dir() / "t1"
    assert not folder.exists()
    with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        status = c.get("/v1/events/ev-1", headers=key).status_code
        made = folder.exists()
        assert c.get("/v1/memories", params={"user_id": "ana"}, headers=key).status_code == 200  # a read that needs the store
        assert folder.exists()  # makes it: the observable is the folder
    return status, made


def test_with_the_pipeline_off_a_lookup_is_501_and_opens_no_store(tmp_path: Path, embedder: USEEmbedder) -> None:
    off = pipeline_settings(tmp_path / "data" / "m.db", "redis://127.0.0.1:1/0", "off:", enabled=False)
    assert _lookup(off, embedder) == (501, False)


def test_a_lookup_redis_answers_opens_no_store(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    on = pipeline_settings(tmp_path / "data" / "m.db", redis_server.url, prefix)
    assert _lookup(on, embedder) == (404, False)  # unknown: Redis alone answered


def test_a_lookup_while_redis_is_unreachable_still_asks_the_store(tmp_path: Path, embedder: USEEmbedder) -> None:
    down = pipeline_settings(tmp_path / "data" / "m.db", f"redis://127.0.0.1:{free_port()}/0", "down:")
    assert _lookup(down, embedder) == (503, True)  # the store was asked (it does not know the id)
