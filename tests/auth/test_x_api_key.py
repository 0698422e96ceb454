"""mem0's self-hosted server takes its key as ``X-API-Key: <key>``: a mem0 user who switches the base
URL to memoryd keeps the header. memoryd reads it when it holds a memoryd key, as ``Authorization``
is read; another service's key there is not read, and two different memoryd keys are refused."""

from __future__ import annotations

import httpx

from memoryd import Settings
from tests.auth.conftest import bearer, new_key


def test_a_key_in_x_api_key_is_read_as_mem0_sends_it(http: httpx.Client, auth_settings: Settings) -> None:
    key = new_key(auth_settings, "user", user_id="alice")
    added = http.post("/memories", json={"messages": [{"role": "user", "content": "I keep bees"}]},
                      headers={"X-API-Key": key})  # fmt: skip
    assert added.status_code == 200, added.text
    listed = http.get("/memories", params={"user_id": "alice"}, headers={"X-API-Key": key})
    assert listed.status_code == 200 and [m["memory"] for m in listed.json()["results"]] == ["I keep bees"]
    assert http.get("/memories", params={"user_id": "alice"}).status_code == 401
    wrong = http.get("/memories", params={"user_id": "alice"}, headers={"X-API-Key": key[:-2] + "xx"})
    assert wrong.status_code == 401


def test_another_services_x_api_key_is_not_read_and_two_memoryd_keys_are_refused(
    http: httpx.Client, auth_settings: Settings
) -> None:
    key = new_key(auth_settings, "user", user_id="alice")
    other = new_key(auth_settings, "user", user_id="bob")
    both = {**bearer(key), "X-API-Key": "sk-ant-upstream-key"}  # a client sending an upstream's key along
    assert http.get("/memories", params={"user_id": "alice"}, headers=both).status_code == 200
    same = {**bearer(key), "X-API-Key": key}
    assert http.get("/memories", params={"user_id": "alice"}, headers=same).status_code == 200
    two = {**bearer(other), "X-API-Key": key}  # which user would it be? neither
    assert http.get("/memories", params={"user_id": "alice"}, headers=two).status_code == 401
    assert http.get("/memories", params={"user_id": "bob"}, headers=two).status_code == 401
