"""A stream cut after its role-only first chunk has sent the client nothing: the next tier answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, target

Q = [{"role": "user", "content": "Tell me something."}]

# Each wire's stream that says only who speaks, then drops the connection: OpenAI's role chunk,
# Anthropic's message_start (with a ping and an empty text block), Gemini's empty first part.
_GEMINI_EMPTY = {"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "index": 0}]}
CUTS = {
    "custom": Reply(text="never said", stream_cut_after=0),
    "anthropic": Reply(text="never said", stream_cut_after=0),
    "gemini": Reply(raw=f"data: {json.dumps(_GEMINI_EMPTY)}\n\n"),
}


@pytest.mark.parametrize("provider", sorted(CUTS))
def test_a_stream_cut_after_its_role_chunk_falls_back_to_the_next_tier(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any, provider: str
) -> None:
    second = fake_llm_factory()
    fake_llm.push(CUTS[provider])
    second.default_text("rescued answer")
    tiers = [[target(fake_llm, "m-a", provider=provider)], [target(second, "m-b")]]
    with gateway(tiers) as gw:
        body = {"model": "m-a", "stream": True, "messages": Q, "user": "ana"}
        with gw.http() as http, http.stream("POST", "/v1/chat/completions", json=body) as r:
            status, served = r.status_code, r.headers.get("x-memoryd-target")
            events = [e for e in b"".join(r.iter_bytes()).decode().split("\n\n") if e]
        labels = [t.label for t in gw.app.state.gateway.router.targets]
    assert status == 200
    assert not any('"error"' in e for e in events), events
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    assert text == "rescued answer"
    assert served == labels[1]
    assert len(fake_llm.requests) == 1 and second.last.json["model"] == "m-b"


def test_an_empty_but_complete_stream_is_relayed_not_retried(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    second = fake_llm_factory()
    role = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    fake_llm.reply_raw(f"data: {json.dumps(role)}\n\ndata: [DONE]\n\n")  # said nothing, and said it is done
    with gateway([[target(fake_llm, "m-a")], [target(second, "m-b")]]) as gw:
        stream = gw.client().chat.completions.create(model="m-a", messages=Q, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "" and second.requests == []
