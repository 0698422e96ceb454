"""Keys changed by another process (the CLI, another server) take effect at the server's next
request: a revoked key was accepted for up to two seconds (the server's cache of keys), and an open
server went on serving callers without a key for up to a second after the first key was made."""

from __future__ import annotations

import httpx

from memoryd.auth import open_key_store, revoke_key
from memoryd.auth.keys import parse_key
from memoryd.config import Settings
from tests.api.conftest import Running, error_of
from tests.auth.conftest import bearer, new_key


def test_a_key_the_cli_revokes_is_refused_at_the_next_request(
    auth_server: Running, http: httpx.Client, auth_settings: Settings
) -> None:
    leaked = new_key(auth_settings, "service", tenant="acme")
    assert http.get("/v1/memories", params={"user_id": "ana"}, headers=bearer(leaked)).status_code == 200
    store = open_key_store(auth_settings)  # as `memoryd keys revoke ID` does, in its own process
    try:
        revoke_key(store, parse_key(leaked)[0])
    finally:
        store.close()
    refused = http.get("/v1/memories", params={"user_id": "ana"}, headers=bearer(leaked))
    assert "unknown or revoked" in error_of(refused, 401)["message"]


def test_the_first_key_the_cli_makes_closes_an_open_server_at_the_next_request(
    auth_server: Running, http: httpx.Client, auth_settings: Settings
) -> None:
    assert http.get("/v1/memories", params={"user_id": "ana"}).status_code == 200  # open: no key yet
    admin = new_key(auth_settings, "admin")
    error_of(http.get("/v1/memories", params={"user_id": "ana"}), 401)
    assert http.get("/v1/memories", params={"user_id": "ana"}, headers=bearer(admin)).status_code == 200
