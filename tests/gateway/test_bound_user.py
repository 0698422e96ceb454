"""A user-bound API key: the user its chat calls are for, remembered as and told to the upstream.

The body's ``user`` is the client's word; a key bound to a user is the server's. The memory looked
up, the turn written back and the ``user`` the upstream provider is sent are the key's user,
whatever the body says (the upstream's ``user`` serves its abuse monitoring: it must not name
someone the key's holder chose).
"""

from __future__ import annotations

from typing import Any

from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, add_memory, key, target


def test_a_user_key_sends_its_own_user_upstream_not_the_one_the_body_names(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    fake_llm.default_text("noted")
    claude = fake_llm_factory()
    claude.default_text("noted")
    tiers = [[target(fake_llm, "m")], [target(claude, "claude-x", provider="anthropic")]]
    with gateway(tiers) as gw:
        add_memory(gw, "ana likes jazz", "ana")
        add_memory(gw, "bo likes techno", "bo")
        bo = gw.client(key=key(gw.settings, "user", user_id="bo"))
        asks = [[{"role": "user", "content": f"Which music do I like? ({i})"}] for i in range(5)]
        raw = bo.chat.completions.with_raw_response.create(model="m", user="ana", messages=asks[0])  # type: ignore[arg-type]
        streamed = bo.chat.completions.create(model="m", user="ana", messages=asks[1], stream=True)  # type: ignore[arg-type]
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "noted"
        bo.chat.completions.create(model="claude-x", user="ana", messages=asks[2])  # type: ignore[arg-type]
        bo.chat.completions.create(model="m", messages=asks[3])  # type: ignore[arg-type]
        # Without a key bound to a user, the body's user is the user, and is passed on as is.
        gw.client().chat.completions.create(model="m", user="ana", messages=asks[4])  # type: ignore[arg-type]
        # each user's memory, its questions and the answer ("noted": once, the others are duplicates)
        bo_said = {m["text"] for m in gw.wait_for_memories("bo", 1 + 4 + 1)}
        ana_said = {m["text"] for m in gw.wait_for_memories("ana", 1 + 1 + 1)}
    plain, stream, without, admin = (r.json for r in fake_llm.requests)
    assert raw.headers["x-memoryd-memory"] == "injected"
    for sent in (plain, stream):
        assert sent["user"] == "bo"
        assert "techno" in str(sent["messages"]) and "jazz" not in str(sent["messages"])
    assert claude.last.json["metadata"] == {"user_id": "bo"}  # Anthropic's name for it
    assert "user" not in without  # none is added where the client sent none
    assert admin["user"] == "ana" and "jazz" in str(admin["messages"])
    assert bo_said == {"bo likes techno", "noted", *(a[0]["content"] for a in asks[:4])}
    assert ana_said == {"ana likes jazz", "noted", asks[4][0]["content"]}


def test_a_user_key_names_its_own_user_in_every_end_user_field_the_body_sends(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    """``safety_identifier`` (OpenAI's successor to ``user`` for abuse monitoring) and
    ``metadata.user_id`` name the end user too: under a user key they are the key's user; a field
    sent as null names no one, and is not filled in; ``prompt_cache_key`` is not an identity."""
    fake_llm.default_text("noted")
    claude = fake_llm_factory()
    claude.default_text("noted")
    tiers = [[target(fake_llm, "m")], [target(claude, "claude-x", provider="anthropic")]]
    ask = [{"role": "user", "content": "Which music do I like?"}]
    named = {
        "user": "ana", "safety_identifier": "ana", "prompt_cache_key": "ana-cache", "store": True,
        "metadata": {"user_id": "ana", "session_id": "s1", "tag": "x"},
    }
    nulls = {"user": None, "safety_identifier": None, "metadata": {"user_id": None, "tag": "x"}}
    with gateway(tiers) as gw:
        bo_key = key(gw.settings, "user", user_id="bo")
        with gw.http(bo_key) as bo, gw.http() as admin:
            for client, body in [
                (bo, {"model": "m", "messages": ask, **named}),
                (bo, {"model": "m", "messages": ask, **nulls}),
                (bo, {"model": "m", "messages": ask, "safety_identifier": "ana"}),
                (bo, {"model": "m", "messages": ask, "metadata": {"user_id": "ana"}}),
                (admin, {"model": "m", "messages": ask, **named}),
                (bo, {"model": "claude-x", "messages": ask, **named}),
                (bo, {"model": "claude-x", "messages": ask, **nulls}),
            ]:
                r = client.post("/v1/chat/completions", json=body)
                assert r.status_code == 200, r.text
    every, nothing, safety_only, metadata_only, admin_sent = (r.json for r in fake_llm.requests)
    assert every["user"] == every["safety_identifier"] == "bo"
    assert every["metadata"] == {"user_id": "bo", "tag": "x"}  # the session key is memoryd's
    assert every["prompt_cache_key"] == "ana-cache"
    assert nothing["user"] is None and nothing["safety_identifier"] is None  # none added
    assert nothing["metadata"] == {"user_id": None, "tag": "x"}
    assert safety_only["safety_identifier"] == "bo"
    assert "user" not in safety_only and "metadata" not in safety_only
    assert metadata_only["metadata"] == {"user_id": "bo"}
    assert "user" not in metadata_only and "safety_identifier" not in metadata_only
    # Without a key bound to a user, every field is passed on as the client sent it.
    assert admin_sent["user"] == admin_sent["safety_identifier"] == "ana"
    assert admin_sent["metadata"] == {"user_id": "ana", "tag": "x"}
    # Anthropic's one end-user field, metadata.user_id, is written from user: the same user.
    anthropic_every, anthropic_nothing = (r.json for r in claude.requests)
    assert anthropic_every["metadata"] == {"user_id": "bo"}
    assert "metadata" not in anthropic_nothing
