"""Memory that pushes a conversation past the model's context window: the chat is answered without it.

Before the fix the memory block, injected into a conversation that fit the model's window, made
the upstream refuse it (400 ``context_length_exceeded``, Anthropic's "prompt is too long", Gemini's
"input token count ... exceeds"), and the caller got that error only because memory was added.
Now such a refusal of a request carrying memory is retried once with the caller's messages exactly
as sent, plain or streamed (the refusal comes before any byte), every wire format alike, and the
answer says ``X-Memoryd-Memory: dropped``; its turn is written back as any answer's. A refusal for
another reason is relayed untried, and so is a refusal of the caller's own messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from memoryd.gateway.inject import FENCE_OPEN
from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, GatewayServer, add_memory, target

ASK = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is my dog called?"},
]
FACT = "I adopted a golden retriever named Biscuit"
# Each vendor's refusal of a prompt longer than the model's window, as its API words it.
TOO_LONG = {
    "openai": {
        "error": {
            "message": "This model's maximum context length is 8192 tokens. However, your messages "
            "resulted in 8405 tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    },
    "anthropic": {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "prompt is too long: 200417 tokens > 200000 maximum"},
    },
    "gemini": {
        "error": {
            "code": 400,
            "message": "The input token count (1048601) exceeds the maximum number of tokens allowed (1048576).",
            "status": "INVALID_ARGUMENT",
        }
    },
}
BAD_PARAMETER = {
    "error": {
        "message": "Invalid value for 'temperature': must be between 0 and 2.",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": "invalid_value",
    }
}


def _with_memory(payload: Any) -> bool:
    return FENCE_OPEN in json.dumps(payload)


def _refusing_memory(refusal: dict[str, Any]) -> Callable[[Any], Reply]:
    """The upstream's answer: ``refusal`` (400) to a request holding the memory block, else ``ok``."""
    return lambda payload: Reply(status=400, body=refusal) if _with_memory(payload) else Reply(text="Biscuit.")


def _chat(gw: GatewayServer, model: str, *, stream: bool = False, **extra: Any) -> Any:
    with gw.http() as http:
        body = {"model": model, "user": "ana", "messages": ASK, "stream": stream, **extra}
        return http.post("/v1/chat/completions", json=body)


def _said(response: Any, stream: bool) -> str:
    """The answer's text, plain or streamed (its chunks' deltas, the stream ending in [DONE])."""
    if not stream:
        return str(response.json()["choices"][0]["message"]["content"])
    lines = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]", response.text
    chunks = [json.loads(line) for line in lines[:-1]]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_a_request_refused_for_its_length_with_memory_is_answered_without_it(
    gateway: GatewayFactory, fake_llm: Script, provider: str, stream: bool
) -> None:
    fake_llm.default(Reply(respond=_refusing_memory(TOO_LONG[provider])))
    vendor = "custom" if provider == "openai" else provider
    with gateway([[target(fake_llm, "m1", provider=vendor)]]) as gw:
        add_memory(gw, FACT, "ana")
        r = _chat(gw, "m1", stream=stream)
        writebacks = gw.writebacks()
        stored = [m["memory"] for m in gw.memories("ana")]
        counts = gw.get("/health")["checks"]["gateway"]["counts"]
    assert r.status_code == 200, r.text
    assert _said(r, stream) == "Biscuit."
    assert r.headers["x-memoryd-memory"] == "dropped"
    assert r.headers["x-memoryd-memories-injected"] == "0" and r.headers["x-memoryd-memory-tokens"] == "0"
    assert r.headers["x-memoryd-writeback"] == "on"
    first, second = fake_llm.requests  # two upstream calls: with the memory, then without
    assert _with_memory(first.json) and "golden retriever" in json.dumps(first.json)
    assert not _with_memory(second.json) and "golden retriever" not in json.dumps(second.json)
    if provider == "openai":  # the caller's messages exactly as sent
        assert second.json["messages"] == ASK
    # answered, so the turn is written back as any other
    assert writebacks["scheduled"] == 1 and writebacks["stored"] == 1
    assert any("What is my dog called?" in str(m) for m in stored)
    assert counts["dropped"] == 1


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_request_refused_for_another_reason_is_not_retried(
    gateway: GatewayFactory, fake_llm: Script, stream: bool
) -> None:
    fake_llm.default(Reply(status=400, body=BAD_PARAMETER))
    with gateway([[target(fake_llm, "m1")]]) as gw:
        add_memory(gw, FACT, "ana")
        r = _chat(gw, "m1", stream=stream, temperature=2)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_value"
    assert r.headers["x-memoryd-memory"] == "injected"
    assert len(fake_llm.requests) == 1 and _with_memory(fake_llm.requests[0].json)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_request_too_long_without_memory_too_gets_the_upstreams_error(
    gateway: GatewayFactory, fake_llm: Script, provider: str, stream: bool
) -> None:
    fake_llm.default(Reply(status=400, body=TOO_LONG[provider]))
    vendor = "custom" if provider == "openai" else provider
    with gateway([[target(fake_llm, "m1", provider=vendor)]]) as gw:
        add_memory(gw, FACT, "ana")
        r = _chat(gw, "m1", stream=stream)
        writebacks = gw.writebacks()
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["message"] == TOO_LONG[provider]["error"]["message"]
    assert r.headers["x-memoryd-memory"] == "dropped"
    assert r.headers["x-memoryd-writeback"] == "skipped" and writebacks["scheduled"] == 0
    first, second = fake_llm.requests  # tried once more, without the memory; not again
    assert _with_memory(first.json) and not _with_memory(second.json)


def test_a_request_without_memory_refused_for_its_length_is_not_retried(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    """No user, no memory: the refusal is of the caller's own messages."""
    fake_llm.default(Reply(status=400, body=TOO_LONG["openai"]))
    with gateway([[target(fake_llm, "m1")]]) as gw, gw.http() as http:
        r = http.post("/v1/chat/completions", json={"model": "m1", "messages": ASK})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "context_length_exceeded"
    assert r.headers["x-memoryd-memory"] == "passthrough"
    assert len(fake_llm.requests) == 1


def test_a_fallback_model_with_a_smaller_window_answers_without_the_memory(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Callable[[], Script]
) -> None:
    """The model asked for is down; the next tier's refuses the request with memory for its length."""
    down = fake_llm_factory()
    down.default(Reply(status=503, text=None))
    fake_llm.default(Reply(respond=_refusing_memory(TOO_LONG["openai"])))
    with gateway([[target(down, "big")], [target(fake_llm, "small")]], llm={"max_attempts": 2}) as gw:
        add_memory(gw, FACT, "ana")
        r = _chat(gw, "big")
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "Biscuit."
    assert r.headers["x-memoryd-memory"] == "dropped"
    assert [_with_memory(q.json) for q in fake_llm.requests] == [True, False]
