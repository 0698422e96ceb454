"""``/v1/admin/keys`` over real HTTP: which tenant a new key belongs to."""

from __future__ import annotations

import httpx

from memoryd import Settings
from tests.api.conftest import error_of
from tests.auth.conftest import bearer, new_key


def test_a_key_made_without_a_tenant_is_of_the_tenant_the_admin_acts_in(
    http: httpx.Client, auth_settings: Settings
) -> None:
    """An admin acting in tenant acme (X-Memoryd-Tenant) that made a key without naming a tenant got
    a key of the default tenant: a user key handed to acme's alice read the default tenant's alice."""
    admin = new_key(auth_settings, "admin")
    in_default, in_acme = bearer(admin), {**bearer(admin), "X-Memoryd-Tenant": "acme"}
    for headers, text in ((in_default, "default alice's secret"), (in_acme, "acme alice's note")):
        r = http.post("/v1/memories", json={"messages": text, "user_id": "alice"}, headers=headers)
        assert r.status_code == 200, r.text

    made = http.post("/v1/admin/keys", json={"role": "user", "user_id": "alice"}, headers=in_acme)
    assert made.status_code == 201, made.text
    assert made.json()["tenant"] == "acme"
    listed = http.get("/v1/memories", params={"user_id": "alice"}, headers=bearer(made.json()["key"]))
    assert listed.status_code == 200, listed.text
    assert [m["text"] for m in listed.json()["results"]] == ["acme alice's note"]

    service = http.post("/v1/admin/keys", json={"role": "service"}, headers=in_acme)
    assert service.status_code == 201 and service.json()["tenant"] == "acme", service.text
    # Without the header the admin acts in its own key's tenant, as before.
    plain = http.post("/v1/admin/keys", json={"role": "user", "user_id": "alice"}, headers=in_default)
    assert plain.status_code == 201 and plain.json()["tenant"] == "default", plain.text
    # A service key of acme still makes keys of acme only.
    acme_service = bearer(service.json()["key"])
    own = http.post("/v1/admin/keys", json={"role": "user", "user_id": "bob"}, headers=acme_service)
    assert own.status_code == 201 and own.json()["tenant"] == "acme", own.text
    error_of(http.post("/v1/admin/keys", json={"role": "user", "user_id": "bob", "tenant": "default"},
                       headers=acme_service), 403)  # fmt: skip


def test_a_user_key_for_an_id_no_memory_may_have_is_refused_and_none_is_stored(
    http: httpx.Client, auth_settings: Settings
) -> None:
    """A user key bound to "a\\tb" or a 600-character id was made: the server then refused its every
    call (no scope holds such an id). It is refused when asked for, naming user_id."""
    admin = bearer(new_key(auth_settings, "admin"))
    before = http.get("/v1/admin/keys", headers=admin).json()["results"]
    for user_id in ("a\tb", "x" * 600, "ana\x00"):
        error = error_of(http.post("/v1/admin/keys", json={"role": "user", "user_id": user_id}, headers=admin), 422)
        assert error["field"] == "user_id", error
    assert http.get("/v1/admin/keys", headers=admin).json()["results"] == before


def test_a_key_request_naming_a_field_twice_is_refused_and_makes_no_key(
    http: httpx.Client, auth_settings: Settings
) -> None:
    """``{"role": "user", "role": "admin"}`` made an admin key (a JSON parser keeps the last value):
    a request naming a field twice is refused, naming it, and no key is made."""
    admin = bearer(new_key(auth_settings, "admin"))
    before = http.get("/v1/admin/keys", headers=admin).json()["results"]
    body = b'{"role": "user", "user_id": "alice", "role": "admin"}'
    headers = {**admin, "content-type": "application/json"}
    error = error_of(http.post("/v1/admin/keys", content=body, headers=headers), 422)
    assert error["field"] == "role", error
    assert http.get("/v1/admin/keys", headers=admin).json()["results"] == before
