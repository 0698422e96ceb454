"""A service key asking ``GET /v1/events/{id}`` without ``?user_id=`` for an event a user-bound key
queued (its ids are its user's own) got a plain 404, no hint of ``?user_id=``. Its 404 now says how
such an event is found, on every 404 it gets (an id no user has too), so the hint tells nothing of
whether the id names another user's event; a user-bound key is never told it, and its 404 of
another user's event is still that of an unknown id."""

from __future__ import annotations

import httpx

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import error_of, running_server
from tests.auth.conftest import bearer, new_key


def test_a_service_keys_404_says_how_a_users_events_are_found(
    psettings: Settings, embedder: USEEmbedder
) -> None:
    service = bearer(new_key(psettings, "service", tenant="acme"))
    alice = bearer(new_key(psettings, "user", tenant="acme", user_id="alice"))
    bob = bearer(new_key(psettings, "user", tenant="acme", user_id="bob"))
    with running_server(psettings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        body = {"messages": "I keep bees on the roof", "user_id": "alice", "event_id": "e-1"}
        assert c.post("/v1/memories", json=body, headers=alice).status_code == 202

        hers = error_of(c.get("/v1/events/e-1", headers=service), 404)["message"]
        assert "?user_id=" in hers, hers
        nobodys = error_of(c.get("/v1/events/e-9", headers=service), 404)["message"]
        assert nobodys == hers.replace("'e-1'", "'e-9'")  # the same words whether or not a user has it
        assert c.get("/v1/events/e-1", params={"user_id": "alice"}, headers=service).status_code == 200
        asked_for = error_of(c.get("/v1/events/e-1", params={"user_id": "bob"}, headers=service), 404)
        assert "?user_id=" not in asked_for["message"]  # it named a user already

        bobs = error_of(c.get("/v1/events/e-1", headers=bob), 404)["message"]
        unknown = error_of(c.get("/v1/events/e-9", headers=bob), 404)["message"]
        assert "?user_id=" not in bobs and bobs == unknown.replace("'e-9'", "'e-1'")
