"""``safety_identifier`` within OpenAI's 64 characters: a longer user id goes as its SHA-256.

Before the fix a user id longer than 64 characters (a key's user, or one the client named) was
sent as ``safety_identifier`` as it was, which OpenAI's API refuses (400). Now such an id is sent
as its SHA-256 hex digest (64 characters, the same for the same user: OpenAI's own advice is to
hash the id), in ``safety_identifier`` only: ``user`` and ``metadata.user_id`` have no such
documented limit and are sent as they were, and an id of 64 characters or fewer is sent as it is.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, key, target

ASK = [{"role": "user", "content": "Which music do I like?"}]
LONG = "tenant-7/" + "u" * 91  # 100 characters: a user id of memoryd's allows 256
EXACT = "e" * 64


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_a_user_id_longer_than_64_characters_goes_as_its_digest_in_safety_identifier(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    fake_llm.default_text("noted")
    claude = fake_llm_factory()
    claude.default_text("noted")
    tiers = [[target(fake_llm, "m")], [target(claude, "claude-x", provider="anthropic")]]
    named = {"user": "x", "safety_identifier": "x", "metadata": {"user_id": "x"}}
    with gateway(tiers, gateway={"writeback": False}) as gw:
        long_key, exact_key = (key(gw.settings, "user", user_id=u) for u in (LONG, EXACT))
        calls = [
            (long_key, {"model": "m", "messages": ASK, **named}),
            (long_key, {"model": "m", "messages": ASK, **named, "stream": True}),
            (exact_key, {"model": "m", "messages": ASK, **named}),
            # without a user key: the id the client named, as forwarded
            (None, {"model": "m", "messages": ASK, "safety_identifier": LONG}),
            (None, {"model": "m", "messages": ASK, "safety_identifier": EXACT}),
            (long_key, {"model": "claude-x", "messages": ASK, "safety_identifier": "x"}),
        ]
        for caller, body in calls:
            with gw.http(caller) as http:
                r = http.post("/v1/chat/completions", json=body)
            assert r.status_code == 200, r.text
    plain, streamed, exact, forwarded, forwarded_exact = (r.json for r in fake_llm.requests)
    for sent in (plain, streamed):
        assert sent["safety_identifier"] == _sha256(LONG) and len(sent["safety_identifier"]) == 64
        assert sent["user"] == LONG and sent["metadata"] == {"user_id": LONG}  # no documented limit
    assert exact["safety_identifier"] == exact["user"] == EXACT
    assert forwarded["safety_identifier"] == _sha256(LONG)
    assert forwarded_exact["safety_identifier"] == EXACT
    # Anthropic's metadata.user_id is not OpenAI's field: the user id as it is.
    assert claude.last.json["metadata"] == {"user_id": LONG}
