"""A fallback target whose wire would drop what the request asks is passed over, not sent it.

The Anthropic and Gemini wires drop fields they cannot carry. To the model the client asked
for, that is the documented translation; but a fallback that answered a request for two
choices with log probabilities and a strict JSON schema with one choice of prose (a 200)
handed the client something else than it asked for. Such a fallback is now passed over
before anything is sent to it, as one refusing the request (a 400) was already.
"""

from __future__ import annotations

from typing import Any

import pytest

from memoryd.gateway.wire import untranslated
from memoryd.gateway.wire_anthropic import WIRE as ANTHROPIC
from memoryd.gateway.wire_gemini import WIRE as GEMINI
from memoryd.gateway.wire_openai import WIRE as OPENAI
from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, target

Q = [{"role": "user", "content": "give me a"}]
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "x",
        "strict": True,
        "schema": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
    },
}
PICKY = {"n": 2, "logprobs": True, "top_logprobs": 2, "response_format": SCHEMA}


def _post(gw: Any, body: dict[str, Any]) -> Any:
    with gw.http() as http:
        return http.post("/v1/chat/completions", json=body)


@pytest.mark.parametrize("stream", [False, True])
def test_an_anthropic_fallback_that_would_drop_what_was_asked_is_passed_over(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any, stream: bool
) -> None:
    claude = fake_llm_factory()
    fake_llm.default(Reply(status=503, text=None, message="overloaded"))
    claude.default_text("Sure, here you go: not JSON at all")
    tiers = [[target(fake_llm, "gpt-4o")], [target(claude, "claude-x", "anthropic")]]
    with gateway(tiers, llm={"max_attempts": 3, "breaker_failures": 100}) as gw:
        refused = _post(gw, {"model": "gpt-4o", "messages": Q, "stream": stream, **PICKY})
        assert claude.requests == []  # nothing generated, nothing billed
        plain = _post(gw, {"model": "gpt-4o", "messages": Q})  # nothing it would drop: it answers
        labels = [t.label for t in gw.app.state.gateway.router.targets]
    assert refused.status_code == 503, refused.text
    error = refused.json()["error"]
    assert [f["target"] for f in error["failures"]] == labels
    passed = error["failures"][1]["error"]
    assert "a fallback target: passed over" in passed
    assert all(name in passed for name in ("n=2", "logprobs", "top_logprobs", "response_format json_schema"))
    assert plain.status_code == 200, plain.text
    assert plain.json()["choices"][0]["message"]["content"] == "Sure, here you go: not JSON at all"
    assert plain.headers["x-memoryd-target"] == labels[1] and len(claude.requests) == 1


def test_a_gemini_fallback_is_sent_the_schema_it_enforces_but_not_asked_for_two_choices(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    gemini = fake_llm_factory()
    fake_llm.default(Reply(status=503, text=None))
    gemini.default_json({"a": 1})
    tiers = [[target(fake_llm, "gpt-4o")], [target(gemini, "gemini-x", "gemini")]]
    with gateway(tiers, llm={"max_attempts": 3, "breaker_failures": 100}) as gw:
        two = _post(gw, {"model": "gpt-4o", "messages": Q, "n": 2})
        assert gemini.requests == []
        schema = _post(gw, {"model": "gpt-4o", "messages": Q, "response_format": SCHEMA})
    assert two.status_code == 503 and "cannot honour n=2" in two.text
    assert schema.status_code == 200 and schema.json()["choices"][0]["message"]["content"] == '{"a": 1}'
    assert gemini.last.json["generationConfig"]["responseJsonSchema"] == SCHEMA["json_schema"]["schema"]


def test_the_model_asked_for_is_sent_what_its_wire_carries(gateway: GatewayFactory, fake_llm: Script) -> None:
    fake_llm.default_text("prose")
    with gateway([[target(fake_llm, "claude-x", "anthropic")]]) as gw:
        served = _post(gw, {"model": "claude-x", "messages": Q, **PICKY})
    assert served.status_code == 200 and len(fake_llm.requests) == 1  # as the README says: dropped
    assert not {"n", "logprobs", "response_format"} & set(fake_llm.last.json)


def test_what_each_wire_lacks() -> None:
    assert OPENAI.lacks({"messages": Q, **PICKY}) == []
    assert ANTHROPIC.lacks({"messages": Q, "n": 1, "seed": 7, "temperature": 0.2, "frequency_penalty": 1}) == []
    assert GEMINI.lacks({"messages": Q, "response_format": {"type": "json_object"}}) == []
    assert ANTHROPIC.lacks({"messages": Q, "response_format": {"type": "json_object"}}) == [
        "response_format json_object"
    ]
    tools = [{"type": "function", "function": {"name": "f"}}, {"type": "custom", "custom": {"name": "g"}}]
    serial = {"messages": Q, "tools": tools, "parallel_tool_calls": False}
    assert ANTHROPIC.lacks(serial) == ["tools of type custom"]  # it can say "one call at a time"
    assert GEMINI.lacks(serial) == ["tools of type custom", "parallel_tool_calls=false"]
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    heard = [{"role": "user", "content": [{"type": "text", "text": "what is this?"}, audio]}]
    assert untranslated(
        {"messages": heard, "modalities": ["text", "audio"], "logit_bias": {"50256": -100}},
        json_output=True,
        serial_tools=True,
    ) == ["logit_bias", "modalities text,audio", "input_audio content"]
