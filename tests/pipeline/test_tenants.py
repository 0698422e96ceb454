"""The pipeline with tenants and user keys: events go to their tenant's store, and event
lookups never cross tenants or users (404, as for an unknown id)."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import LocalRedis
from tests.api.conftest import error_of, running_server
from tests.auth.conftest import bearer, new_key
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import burst


async def test_events_are_per_tenant_and_per_user(psettings: Settings, embedder: USEEmbedder) -> None:
    acme = bearer(new_key(psettings, "service", tenant="acme"))
    zeta = bearer(new_key(psettings, "service", tenant="zeta"))
    alice = bearer(new_key(psettings, "user", tenant="acme", user_id="alice"))
    bob = bearer(new_key(psettings, "user", tenant="acme", user_id="bob"))
    with running_server(psettings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        body = {"messages": "I keep bees on the roof", "user_id": "bob", "event_id": "e-1"}
        assert error_of(c.post("/v1/memories", json=body, headers=alice), 404)["field"] == "user_id"  # not hers
        body["user_id"] = "alice"
        assert c.post("/v1/memories", json=body, headers=alice).status_code == 202
        same_id = {"messages": "zeta's own event", "user_id": "carol", "event_id": "e-1"}
        r = c.post("/v1/memories", json=same_id, headers=zeta)
        assert r.status_code == 202 and r.json()["status"] == "queued"  # not a duplicate of acme's e-1
        assert c.get("/v1/events/e-1", headers=alice).json()["status"] == "queued"
        error_of(c.get("/v1/events/e-1", headers=acme), 404)  # a user key's ids are its user's own
        assert c.get("/v1/events/e-1", params={"user_id": "alice"}, headers=acme).status_code == 200
        error_of(c.get("/v1/events/e-1", headers=bob), 404)

        report = await burst(psettings, embedder)
        assert report.processed == 2
        done = c.get("/v1/events/e-1", headers=alice).json()
        assert done["status"] == "done" and done["event_id"] == "e-1"
        listed = c.get("/v1/memories", params={"user_id": "alice"}, headers=acme).json()
        assert [m["memory"] for m in listed["results"] if m["kind"] == "episode"] == [
            "I keep bees on the roof"
        ]
        assert c.get("/v1/memories", params={"user_id": "bob"}, headers=acme).json()["total"] == 0
        zeta_rows = c.get("/v1/memories", params={"user_id": "carol"}, headers=zeta).json()["results"]
        assert [m["memory"] for m in zeta_rows] == ["zeta's own event"]
        assert c.get("/v1/memories", params={"user_id": "carol"}, headers=acme).json()["total"] == 0


async def test_a_user_keys_event_names_no_upstream(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    """The result of a queued add, read with a user key, says why the LLM fell short without the
    upstream's address (as its synchronous add does: tests/auth/test_upstream_unplaced.py)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        place = f"127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: nothing answers there
        llm = {"provider": "openai", "base_url": f"http://{place}/v1", "api_key": "k", "model": "m",
               "timeout_s": 1, "max_attempts": 1}  # fmt: skip
        settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, {"llm": llm})
        alice = bearer(new_key(settings, "user", user_id="alice"))
        admin = bearer(new_key(settings, "admin"))
        with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
            body = {"messages": "I live in Paris", "event_id": "e-llm"}
            assert c.post("/v1/memories", json=body, headers=alice).status_code == 202
            assert (await burst(settings, embedder)).processed == 1
            seen = c.get("/v1/events/e-llm", headers=alice).json()
            full = c.get("/v1/events/e-llm", params={"user_id": "alice"}, headers=admin).json()
    assert seen["status"] == "done" and "openai:m" in seen["result"]["llm"]["fallback"]
    assert "127.0.0.1" not in str(seen)
    assert place in full["result"]["llm"]["fallback"]
