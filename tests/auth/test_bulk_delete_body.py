"""A bulk delete (``DELETE /v1/memories``, mem0's ``DELETE /memories``) reads its scope from the
query only. Sent with the scope in a JSON body, under a user key, the body was ignored and the
request was read as naming no user, that is the key's own: alice's "delete bob's memories" erased
alice's. A body is now refused (422 naming it) and nothing is deleted."""

from __future__ import annotations

import httpx
import pytest

from memoryd import Settings
from tests.api.conftest import error_of
from tests.auth.conftest import bearer, new_key


def _texts(http: httpx.Client, headers: dict[str, str], user_id: str) -> list[str]:
    listed = http.get("/v1/memories", params={"user_id": user_id}, headers=headers)
    assert listed.status_code == 200, listed.text
    return [m["text"] for m in listed.json()["results"]]


@pytest.mark.parametrize("path", ["/v1/memories", "/memories"])
def test_a_scope_in_the_body_of_a_bulk_delete_deletes_nothing(
    http: httpx.Client, auth_settings: Settings, path: str
) -> None:
    service = bearer(new_key(auth_settings, "service"))
    alice = bearer(new_key(auth_settings, "user", user_id="alice"))
    for user, text in (("alice", "alice keeps bees"), ("bob", "bob grows figs")):
        added = http.post("/v1/memories", json={"messages": text, "user_id": user}, headers=service)
        assert added.status_code == 200, added.text

    for body in ({"user_id": "bob"}, {"filters": {"user_id": "bob"}}):
        error = error_of(http.request("DELETE", path, json=body, headers=alice), 422)
        assert error["field"] == "body", error
        assert _texts(http, service, "alice") == ["alice keeps bees"]
        assert _texts(http, service, "bob") == ["bob grows figs"]
    refused = http.request("DELETE", path, params={"user_id": "alice"}, json={"user_id": "bob"}, headers=service)
    error_of(refused, 422)
    assert _texts(http, service, "alice") == ["alice keeps bees"]

    deleted = http.request("DELETE", path, headers=alice)  # no body: the key's own user, as before
    assert deleted.status_code == 200, deleted.text
    assert _texts(http, service, "alice") == [] and _texts(http, service, "bob") == ["bob grows figs"]
