"""A bulk delete refuses a body (tests/auth/test_bulk_delete_body.py), but an empty one says nothing:
``{}`` and ``null`` were let through as no body, while the same empty object written with a space
or a line inside (``{ }``, a pretty-printer's ``{\\n}``) was refused with a 422. Any empty JSON
object (or null, or nothing) is now no body at all; a scope in the body is still refused."""

from __future__ import annotations

import httpx
import pytest

from memoryd import Settings
from tests.api.conftest import error_of
from tests.auth.conftest import bearer, new_key


@pytest.mark.parametrize("path", ["/v1/memories", "/memories"])
@pytest.mark.parametrize(
    "content", [b"{ }", b"{\n}\n", b" null ", b""], ids=["space", "lines", "null", "none"]
)
def test_an_empty_json_body_on_a_bulk_delete_is_no_body(
    http: httpx.Client, auth_settings: Settings, path: str, content: bytes
) -> None:
    service = bearer(new_key(auth_settings, "service"))
    alice = bearer(new_key(auth_settings, "user", user_id="alice"))
    added = http.post(
        "/v1/memories", json={"messages": "alice keeps bees", "user_id": "alice"}, headers=service
    )
    assert added.status_code == 200, added.text
    sent = {**alice, "content-type": "application/json"}
    deleted = http.request("DELETE", path, content=content, headers=sent)
    assert deleted.status_code == 200, deleted.text
    listed = http.get("/v1/memories", params={"user_id": "alice"}, headers=service)
    assert listed.json()["results"] == []


@pytest.mark.parametrize("content", [b'{ "user_id" : "bob" }', b"[]", b"{", b'"bob"'])
def test_a_body_that_is_not_an_empty_object_is_still_refused(
    http: httpx.Client, auth_settings: Settings, content: bytes
) -> None:
    alice = bearer(new_key(auth_settings, "user", user_id="alice"))
    sent = {**alice, "content-type": "application/json"}
    error = error_of(http.request("DELETE", "/v1/memories", content=content, headers=sent), 422)
    assert error["field"] == "body", error
