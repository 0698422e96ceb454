"""The pipeline with tenants and user keys: events go to their tenant's store, and event
lookups never cross tenants or users (404, as for an unknown id)."""

from __future__ import annotations

import httpx

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import error_of, running_server
from tests.auth.conftest import bearer, new_key
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
