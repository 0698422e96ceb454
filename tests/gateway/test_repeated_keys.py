"""A chat request naming a key twice in one object (``{"user": "a", ..., "user": "b"}``) is a 400 in
OpenAI's shape naming the key, as on ``/v1/memories``: a JSON parser keeps the last value, so the
memories read and written back could be another user's than the caller meant.

Each test failed on the code before its fix (the last value was taken and the call went through).
"""

from __future__ import annotations

import pytest

from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, add_memory, target

ASK = '{"model": "m", "messages": [{"role": "user", "content": "where do I live?"}], '


@pytest.mark.parametrize(
    ("tail", "where"),
    [
        ('"user": "alice", "user": "bob"}', "user"),
        ('"user": "bob", "metadata": {"session_id": "s1", "session_id": "s2"}}', "metadata.session_id"),
        ('"user": "bob", "model": "m"}', "model"),
    ],
)
@pytest.mark.parametrize("media", ["application/json", "text/plain", None])
def test_a_key_given_twice_is_a_400_naming_it_and_nothing_is_read_sent_or_written(
    gateway: GatewayFactory, fake_llm: Script, tail: str, where: str, media: str | None
) -> None:
    with gateway([[target(fake_llm, "m")]]) as gw:
        add_memory(gw, "I live in Lisbon.", "bob")
        before = {user: gw.memories(user) for user in ("alice", "bob")}
        with gw.http() as http:
            for stream in ("", '"stream": true, '):
                headers = {"content-type": media} if media else {}
                r = http.post("/v1/chat/completions", content=ASK + stream + tail, headers=headers)
                assert r.status_code == 400, r.text
                error = r.json()["error"]
                assert error["type"] == "invalid_request_error" and error["param"] == where, error
                assert f"{where} is given more than once" in error["message"], error
        assert gw.writebacks()["in_flight"] == 0
        assert {user: gw.memories(user) for user in ("alice", "bob")} == before
    assert fake_llm.requests == []


def test_the_same_key_in_different_objects_goes_through(gateway: GatewayFactory, fake_llm: Script) -> None:
    raw = (
        '{"model": "m", "user": "bob", "messages": [{"role": "system", "content": "Be brief."}, '
        '{"role": "user", "content": "where do I live?"}], "metadata": {"user": "x"}}'
    )
    with gateway([[target(fake_llm, "m")]]) as gw:
        add_memory(gw, "I live in Lisbon.", "bob")
        with gw.http() as http:
            r = http.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        assert r.headers["x-memoryd-memory"] == "injected"
    assert "Lisbon" in str(fake_llm.last.json["messages"])
