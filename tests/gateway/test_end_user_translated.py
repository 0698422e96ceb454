"""The end user a request names, told to a translating wire's upstream whichever field named them.

Before the fix, the Anthropic wire wrote ``metadata.user_id`` from ``user`` only: a request
naming its end user in ``safety_identifier`` (OpenAI's successor to ``user``) or in
``metadata.user_id`` itself sent Anthropic none, under a user key too. Gemini's API has no
end-user field: it is sent none, whichever field named the user.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, key, target

ASK = [{"role": "user", "content": "Which music do I like?"}]


def test_anthropic_is_told_the_end_user_whichever_field_names_them(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    fake_llm.default_text("noted")
    gemini = fake_llm_factory()
    gemini.default_text("noted")
    tiers = [
        [target(fake_llm, "claude-x", provider="anthropic")],
        [target(gemini, "gemini-x", provider="gemini")],
    ]
    fields: list[dict[str, Any]] = [
        {"user": "ana"},
        {"safety_identifier": "ana"},
        {"metadata": {"user_id": "ana"}},
        {"user": "ana", "safety_identifier": "ana-hash"},  # both: user, as before
    ]
    with gateway(tiers, gateway={"writeback": False}) as gw:
        bo_key = key(gw.settings, "user", user_id="bo")
        with gw.http(bo_key) as bo, gw.http() as admin:
            for client in (bo, admin):
                for model in ("claude-x", "gemini-x"):
                    for named in fields:
                        body = {"model": model, "messages": ASK, **named}
                        r = client.post("/v1/chat/completions", json=body)
                        assert r.status_code == 200, r.text
    to_bo, to_admin = fake_llm.requests[:4], fake_llm.requests[4:]
    # Under a user key: the key's user, whichever field the request named someone in.
    assert [r.json.get("metadata") for r in to_bo] == [{"user_id": "bo"}] * 4
    # Without one: the user the request named, as it named them.
    assert [r.json.get("metadata") for r in to_admin] == [
        {"user_id": "ana"},
        {"user_id": "ana"},
        {"user_id": "ana"},
        {"user_id": "ana"},
    ]
    # Gemini has no end-user field: it is sent none, whichever field named the user.
    assert len(gemini.requests) == 8
    for sent in gemini.requests:
        assert not {"user", "safety_identifier", "metadata", "labels"} & set(sent.json), sent.json
        assert '"bo"' not in json.dumps(sent.json) and '"ana"' not in json.dumps(sent.json)
