"""With the async pipeline off, an add's ``event_id`` means what it means with it on: an add sent
again under its id (a retry after a lost answer) is applied once (a NOOP naming the event, as the
pipeline's synchronous path answers it), another add under the id is a 409, and an add without
one is answered as ever."""

from __future__ import annotations

from typing import Any

import httpx

from memoryd import Settings
from tests.auth.conftest import bearer, new_key

PARIS = {"messages": "I live in Paris.", "user_id": "ana", "event_id": "ev-1"}
DUPLICATE = {"event_id": "ev-1", "status": "done", "pipeline": "bypassed", "event": "NOOP",
             "reason": "duplicate event"}  # fmt: skip


def _memories(client: httpx.Client, user_id: str = "ana") -> list[dict[str, Any]]:
    r = client.get("/v1/memories", params={"user_id": user_id, "limit": 50})
    assert r.status_code == 200, r.text
    return list(r.json()["results"])


def test_an_add_sent_again_under_its_event_id_is_applied_once(client: httpx.Client) -> None:
    first = client.post("/v1/memories", json=PARIS)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["event_id"] == "ev-1" and "pipeline" not in body
    assert body["results"][0]["event"] == "ADD"
    moved = client.post("/v1/memories", json={"messages": "I live in London.", "user_id": "ana"})
    assert moved.status_code == 200, moved.text
    before = _memories(client)

    # The client's retry of the first add, whose answer it never got: nothing stored again, and
    # London stays where Ana lives.
    again = client.post("/v1/memories", json=PARIS)
    assert again.status_code == 200, again.text
    assert again.json() == DUPLICATE
    # The same add written otherwise (a list of it, no metadata given as {}) is the same add.
    written_otherwise = {**PARIS, "messages": ["I live in Paris."], "metadata": {}}
    assert client.post("/v1/memories", json=written_otherwise).json() == DUPLICATE
    assert _memories(client) == before


def test_another_add_under_a_used_event_id_is_refused(client: httpx.Client) -> None:
    assert client.post("/v1/memories", json=PARIS).status_code == 200
    before = _memories(client)
    for other in ({**PARIS, "messages": "I live in Rome."}, {**PARIS, "user_id": "bo"}):
        r = client.post("/v1/memories", json=other)
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["field"] == "event_id" and "ev-1" in error["message"]
    assert _memories(client) == before and _memories(client, "bo") == []


def test_an_add_without_an_event_id_is_answered_as_ever(client: httpx.Client) -> None:
    plain = {"messages": "I keep bees.", "user_id": "ana"}
    first = client.post("/v1/memories", json=plain).json()
    again = client.post("/v1/memories", json=plain).json()
    assert set(first) == set(again) == {"results", "mode"}
    assert [r["event"] for r in first["results"]] == ["ADD"]
    assert [r["event"] for r in again["results"]] == ["NOOP"]  # the same text again, as ever
    bad = client.post("/v1/memories", json={**plain, "event_id": "no spaces"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "event_id"


def test_events_are_not_looked_up_without_the_pipeline(client: httpx.Client) -> None:
    assert client.post("/v1/memories", json=PARIS).status_code == 200
    r = client.get("/v1/events/ev-1")
    assert r.status_code == 501, r.text
    assert r.json()["error"]["field"] == "event_id"


def test_the_mem0_route_applies_an_add_under_its_event_id_once(client: httpx.Client) -> None:
    body = {"messages": [{"role": "user", "content": "I love sushi"}], "user_id": "bo", "event_id": "m-1"}
    first = client.post("/memories", json=body)
    assert first.status_code == 200, first.text
    assert first.json()["event_id"] == "m-1" and first.json()["results"][0]["event"] == "ADD"
    before = _memories(client, "bo")
    again = client.post("/memories", json=body)
    assert again.status_code == 200, again.text
    row = {"message": "duplicate event: already submitted", "status": "SUCCEEDED", "event_id": "m-1"}
    assert again.json() == {"results": [row]}
    other = client.post("/memories", json={**body, "messages": [{"role": "user", "content": "I love ramen"}]})
    assert other.status_code == 409 and other.json()["error"]["field"] == "event_id"
    # /v1 and mem0 adds share their ids, as they do with the pipeline on.
    assert client.post("/v1/memories", json={**body, "messages": "I love ramen"}).status_code == 409
    assert _memories(client, "bo") == before


def test_each_user_keys_event_ids_are_its_own(api_settings: Settings, client: httpx.Client) -> None:
    ana = bearer(new_key(api_settings, "user", user_id="ana"))
    bo = bearer(new_key(api_settings, "user", user_id="bo"))
    add = {"messages": "I live in Paris.", "event_id": "ev-7"}
    assert client.post("/v1/memories", json=add, headers=ana).status_code == 200
    theirs = client.post("/v1/memories", json=add, headers=bo)  # another user's id: no conflict
    assert theirs.status_code == 200, theirs.text
    assert theirs.json()["results"][0]["event"] == "ADD"
    again = client.post("/v1/memories", json={**add, "user_id": "ana"}, headers=ana)  # user named or not
    assert again.status_code == 200 and again.json() == {**DUPLICATE, "event_id": "ev-7"}
