"""Why a request naming two keys is refused, as the client sent them.

A memoryd key in ``X-API-Key`` next to an ``Authorization`` that holds another key (a client's
SDK sends its own ``api_key`` there) is refused, as two ``Authorization`` lines are; the answer
said "send one Authorization header: this request has two that differ" to a client that had sent
one, and named nothing of ``X-API-Key``. It now names both headers.
"""

from __future__ import annotations

import httpx

from memoryd import Settings
from tests.api.conftest import error_of
from tests.auth.conftest import bearer, new_key


def test_a_key_in_x_api_key_next_to_another_authorization_is_refused_naming_both(
    http: httpx.Client, auth_settings: Settings
) -> None:
    key = new_key(auth_settings, "service")
    other = new_key(auth_settings, "user", user_id="bob")
    for authorization in ("Bearer sk-upstream-key", f"Bearer {other}"):
        r = http.get("/v1/memories", params={"user_id": "bob"},
                     headers={"Authorization": authorization, "X-API-Key": key})  # fmt: skip
        message = error_of(r, 401)["message"]
        assert "X-API-Key" in message and "Authorization" in message, message
    assert http.get("/v1/memories", params={"user_id": "bob"}, headers={"X-API-Key": key}).status_code == 200
    assert http.get("/v1/memories", params={"user_id": "bob"}, headers=bearer(key)).status_code == 200
