"""A gateway user id holding a control character is the caller's mistake: a 400 naming the field it
came in, before any upstream is called, as an empty or overlong one is.

``"user": "ana\\tbob"`` passed the gateway's own check; the memory lookup then refused the id
(no scope holds a control character) and the call went on without memory or write-back.
"""

from __future__ import annotations

import pytest

from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, target

ASK = [{"role": "user", "content": "I like chess."}]


@pytest.mark.parametrize("user", ["ana\tbob", "ana\x00", "ana\nbob", "ana\x1b[31m"])
def test_a_user_with_a_control_character_is_a_400_naming_the_field(
    gateway: GatewayFactory, fake_llm: Script, user: str
) -> None:
    fake_llm.default_text("noted")
    with gateway([[target(fake_llm, "m")]]) as gw, gw.http() as http:
        r = http.post("/v1/chat/completions", json={"model": "m", "user": user, "messages": ASK})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["param"] == "user", r.text
    assert fake_llm.requests == []
