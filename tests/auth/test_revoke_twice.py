"""``DELETE /v1/admin/keys/{id}`` of a key revoked before answered as the first revoke did, with no
word that it already was. It still answers 200 with the key's record, its ``revoked_at`` the first
revoke's, and now ``already_revoked: true`` and a ``message`` "key X was already revoked (at …)",
both in the documented schema."""

from __future__ import annotations

import httpx

from memoryd import Settings
from tests.api.schema_check import SchemaCheck
from tests.auth.conftest import bearer, new_key


def test_revoking_a_revoked_key_says_it_already_was(http: httpx.Client, auth_settings: Settings) -> None:
    admin = bearer(new_key(auth_settings, "admin"))
    key_id = new_key(auth_settings, "service", tenant="acme").split("_")[1]

    first = http.delete(f"/v1/admin/keys/{key_id}", headers=admin)
    assert first.status_code == 200, first.text
    assert first.json()["already_revoked"] is False and "message" not in first.json(), first.text

    second = http.delete(f"/v1/admin/keys/{key_id}", headers=admin)
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["already_revoked"] is True, body
    assert body["revoked_at"] == first.json()["revoked_at"], body  # the first revoke's time, kept
    assert body["message"].startswith(f"key {key_id} was already revoked (at {body['revoked_at'][:19]}"), body
    check = SchemaCheck.served_by(http)  # both answers are as documented
    for answer in (first, second):
        check(answer, "/v1/admin/keys/{key_id}")
