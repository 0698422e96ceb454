"""``DELETE /v1/admin/keys/{key_id}`` given a key's full text (a leaked key, pasted as found)
answered 404 "no API key with id 'mdk_<id>_<secret>'": the key stayed valid and the error body held
its secret. It now revokes the key that text names, and a 404 never echoes a secret."""

from __future__ import annotations

import httpx

from memoryd import Settings
from tests.api.conftest import error_of
from tests.auth.conftest import bearer, new_key


def test_a_leaked_key_is_revoked_by_its_text(http: httpx.Client, auth_settings: Settings) -> None:
    admin = bearer(new_key(auth_settings, "admin"))
    leaked = new_key(auth_settings, "user", user_id="ana")
    assert http.get("/v1/memories", headers=bearer(leaked)).status_code == 200

    revoked = http.delete(f"/v1/admin/keys/{leaked}", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["id"] == leaked.split("_")[1] and revoked.json()["revoked_at"]
    assert leaked.split("_", 2)[2] not in revoked.text
    error_of(http.get("/v1/memories", headers=bearer(leaked)), 401)


def test_an_unknown_key_text_is_a_404_without_its_secret(http: httpx.Client, auth_settings: Settings) -> None:
    service = bearer(new_key(auth_settings, "service"))
    other_tenant = new_key(auth_settings, "user", user_id="ana", tenant="acme")
    for text in ("mdk_0123456789ab_s3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3tAB", other_tenant):
        error = error_of(http.delete(f"/v1/admin/keys/{text}", headers=service), 404)
        assert text.split("_")[1] in error["message"]
        assert text.split("_", 2)[2] not in error["message"], error
    assert http.get("/v1/memories", headers=bearer(other_tenant)).status_code == 200  # not revoked
