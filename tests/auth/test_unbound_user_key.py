"""A ``user`` key whose stored row names no user (written by hand or by another tool: memoryd never
makes one) is refused: it was a key of its tenant's every user, a service key in all but name."""

from __future__ import annotations

from dataclasses import replace

import httpx

from memoryd.auth import open_key_store
from memoryd.auth.keys import new_key as make_key
from memoryd.config import Settings
from memoryd.models import utcnow
from tests.api.conftest import Running, error_of
from tests.auth.conftest import bearer, new_key


def test_a_user_key_stored_without_its_user_is_refused(
    auth_server: Running, http: httpx.Client, auth_settings: Settings
) -> None:
    service = bearer(new_key(auth_settings, "service", tenant="acme"))
    added = http.post(
        "/v1/memories", json={"messages": "My PIN is 4417", "user_id": "alice"}, headers=service
    )
    assert added.status_code == 200, added.text
    made = make_key("user", tenant="acme", user_id="mallory", name=None, now=utcnow())
    store = open_key_store(auth_settings)
    try:
        store.add(replace(made.record, user_id=None))  # the row lost its user
    finally:
        store.close()
    for path, params in (("/v1/memories", {"user_id": "alice"}), ("/v1/users", {})):
        r = http.get(path, params=params, headers=bearer(made.key))
        assert "4417" not in r.text and "alice" not in r.text
        error_of(r, 401)
