"""A request with two different Authorization (or X-Memoryd-Tenant) headers is refused.

Before, the last line silently won: a client's key next to the one a proxy adds (or a
tenant next to the one a proxy pins) decided who the request was made as, by header order.
"""

from __future__ import annotations

import httpx

from memoryd import Settings
from tests.api.conftest import error_of
from tests.auth.conftest import bearer, new_key

SECRET = "the vault code is 7719"


def test_two_different_keys_in_one_request_are_refused_in_either_order(
    http: httpx.Client, auth_settings: Settings
) -> None:
    admin = new_key(auth_settings, "admin")
    alice = new_key(auth_settings, "user", user_id="alice")
    service = new_key(auth_settings, "service")
    r = http.post("/v1/memories", json={"messages": SECRET, "user_id": "bob"}, headers=bearer(service))
    assert r.status_code == 200, r.text
    for first, second in ((alice, admin), (admin, alice), (alice, service)):
        for scheme in ("Bearer", "Token"):
            headers = [("Authorization", f"{scheme} {first}"), ("Authorization", f"Bearer {second}")]
            r = http.get("/v1/memories", params={"user_id": "bob"}, headers=headers)
            assert error_of(r, 401)["message"].startswith("send one Authorization header"), r.text
            assert SECRET not in r.text
            r = http.delete("/v1/users/bob", headers=headers)
            error_of(r, 401)
    # the same key twice is one key; and bob's memory is still there
    twice = [("Authorization", f"Bearer {service}"), ("Authorization", f"Bearer {service}")]
    r = http.get("/v1/memories", params={"user_id": "bob"}, headers=twice)
    assert r.status_code == 200 and SECRET in r.text, r.text


def test_two_different_tenants_in_one_request_name_no_tenant(
    http: httpx.Client, auth_settings: Settings
) -> None:
    acme = bearer(new_key(auth_settings, "service", tenant="acme"))
    admin = bearer(new_key(auth_settings, "admin"))
    for tenant, key in (("acme", acme), ("zeta", bearer(new_key(auth_settings, "service", tenant="zeta")))):
        r = http.post("/v1/memories", json={"messages": f"{SECRET} ({tenant})", "user_id": "u"}, headers=key)
        assert r.status_code == 200, r.text
    for pair in (("acme", "zeta"), ("zeta", "acme")):
        tenants = [("X-Memoryd-Tenant", name) for name in pair]
        # acme's key: another tenant named next to its own is no tenant of its (404), in either order
        r = http.get("/v1/memories", params={"user_id": "u"}, headers=[*acme.items(), *tenants])
        assert error_of(r, 404)["field"] == "X-Memoryd-Tenant"
        assert SECRET not in r.text
        # an admin's request names no one tenant
        r = http.get("/v1/memories", params={"user_id": "u"}, headers=[*admin.items(), *tenants])
        assert error_of(r, 422)["field"] == "X-Memoryd-Tenant"
    # the same tenant twice is that tenant
    same = [*acme.items(), ("X-Memoryd-Tenant", "acme"), ("X-Memoryd-Tenant", "acme")]
    r = http.get("/v1/memories", params={"user_id": "u"}, headers=same)
    assert r.status_code == 200 and f"{SECRET} (acme)" in r.text, r.text
