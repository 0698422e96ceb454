"""An upstream answer no client could read is that target's failure, not the gateway's crash.

Before the fix a choice whose ``finish_reason`` was a list (``["stop"]``) broke the gateway when
the turn was written back, and a stream whose first chunk's ``delta`` was a string broke it while
telling whether the answer began: both became the server's generic 500, the next target untried.
Now such an answer is rejected for its target (``LLMOutputError``): the next target answers, or,
when none does, the usual 503 names the failure; a stream already relayed ends with an error event.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, add_memory, target

ASK = [{"role": "user", "content": "Which music do I like?"}]
MEMORY_HEADERS = ("x-memoryd-memory", "x-memoryd-memories-injected", "x-memoryd-memory-tokens")


def _completion(choice: dict[str, Any]) -> dict[str, Any]:
    return {"id": "chatcmpl-odd", "object": "chat.completion", "model": "m", "choices": [choice]}


def _chunk(choice: Any) -> str:
    body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}
    return f"data: {json.dumps(body)}\n\n"


_TEXT = {"role": "assistant", "content": "jazz"}
# name -> (stream, what the upstream sends: a JSON body, or a raw event stream)
UNUSABLE: dict[str, tuple[bool, Any]] = {
    "finish-reason-a-list": (False, _completion({"index": 0, "message": _TEXT, "finish_reason": ["stop"]})),
    "message-a-string": (False, _completion({"index": 0, "message": "jazz", "finish_reason": "stop"})),
    "choice-a-string": (False, {"id": "x", "object": "chat.completion", "choices": ["jazz"]}),
    "content-an-object": (
        False, _completion({"index": 0, "message": {"content": {"t": 1}}, "finish_reason": "stop"}),
    ),
    "delta-a-string": (True, _chunk({"index": 0, "delta": "jazz"})),
    "stream-finish-reason-a-list": (
        True, _chunk({"index": 0, "delta": {"content": "jazz"}, "finish_reason": ["stop"]}),
    ),
    "stream-choice-a-number": (True, _chunk(7)),
}  # fmt: skip


def _script(script: Script, odd: Any) -> None:
    if isinstance(odd, str):
        script.reply_raw(odd + "data: [DONE]\n\n")
    else:
        script.reply_body(odd)


def _text(response: Any, stream: bool) -> str:
    if not stream:
        return str(response.json()["choices"][0]["message"]["content"])
    out = []
    for line in response.text.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices") or ():
                out.append(choice["delta"].get("content") or "")
    return "".join(out)


@pytest.mark.parametrize("name", list(UNUSABLE))
def test_an_unusable_answer_falls_back_to_the_next_target(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any, name: str
) -> None:
    stream, odd = UNUSABLE[name]
    second = fake_llm_factory()
    second.default_text("you like jazz")
    _script(fake_llm, odd)
    with gateway([[target(fake_llm, "m")], [target(second, "m2")]]) as gw, gw.http() as http:
        body = {"model": "m", "messages": ASK, "stream": stream}
        r = http.post("/v1/chat/completions", json=body, headers={"X-Memoryd-User-Id": "ana"})
        stats = gw.get("/health")["checks"]["gateway"]["targets"]
    assert r.status_code == 200, r.text
    assert _text(r, stream) == "you like jazz"
    first = gw.app.state.gateway.router.targets[0].label
    assert len(fake_llm.requests) == 1 and len(second.requests) == 1  # not asked again: it answered
    assert stats[first]["rejected"] == 1 and "unusable" in stats[first]["last_error"]


@pytest.mark.parametrize("name", list(UNUSABLE))
def test_an_unusable_answer_of_the_only_target_is_a_503_naming_it(
    gateway: GatewayFactory, fake_llm: Script, name: str
) -> None:
    stream, odd = UNUSABLE[name]
    _script(fake_llm, odd)
    with gateway([[target(fake_llm, "m")]]) as gw, gw.http() as http:
        add_memory(gw, "ana likes jazz", "ana")
        body = {"model": "m", "messages": ASK, "stream": stream}
        r = http.post("/v1/chat/completions", json=body, headers={"X-Memoryd-User-Id": "ana"})
    assert r.status_code == 503, r.text
    error = r.json()["error"]
    assert error["code"] == "upstream_unavailable" and "unusable" in error["message"]
    assert r.headers["x-memoryd-memory"] == "injected"
    assert all(h in r.headers for h in MEMORY_HEADERS)
    assert r.headers["x-memoryd-writeback"] == "skipped"


def test_an_unusable_chunk_after_the_answer_began_ends_the_stream_with_an_error_event(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    second = fake_llm_factory()
    begun = _chunk({"index": 0, "delta": {"role": "assistant", "content": "you like"}})
    fake_llm.reply_raw(begun + _chunk({"index": 0, "delta": " jazz", "finish_reason": ["stop"]}))
    with gateway([[target(fake_llm, "m")], [target(second, "m2")]]) as gw, gw.http() as http:
        body = {"model": "m", "messages": ASK, "stream": True}
        r = http.post("/v1/chat/completions", json=body, headers={"X-Memoryd-User-Id": "ana"})
        label = gw.app.state.gateway.router.targets[0].label
        stats = gw.get("/health")["checks"]["gateway"]["targets"][label]
    assert r.status_code == 200
    events = r.text.split("\n\n")
    assert "data: [DONE]" not in events
    assert events[-2].startswith('data: {"error":') and "upstream_stream_error" in events[-2]
    assert "unusable stream chunk" in events[-2]
    assert second.requests == []  # no fallback once the client has bytes
    assert stats["failures"] == 1  # broken midway, as any stream that breaks


def test_an_unknown_finish_reason_is_passed_through(gateway: GatewayFactory, fake_llm: Script) -> None:
    """Odd but readable: relayed as it came."""
    fake_llm.reply_body(_completion({"index": 0, "message": _TEXT, "finish_reason": "eos_token"}))
    with gateway([[target(fake_llm, "m")]]) as gw, gw.http() as http:
        r = http.post("/v1/chat/completions", json={"model": "m", "messages": ASK})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["finish_reason"] == "eos_token"


@pytest.mark.parametrize(("stream", "status"), [(False, 200), (True, 200), (False, 503)])
def test_an_answer_nested_too_deeply_to_read_falls_back_to_the_next_target(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any, stream: bool, status: int
) -> None:
    """JSON nested deeper than the parser goes (a ``RecursionError``, not a ``ValueError``), as an
    answer, a stream event or an error's body, was the gateway's generic 500, the next target untried."""
    second = fake_llm_factory()
    second.default_text("you like jazz")
    deep = "[" * 100_000 + "]" * 100_000
    fake_llm.reply_raw(f"data: {deep}\n\n" if stream else deep, status=status)
    with gateway([[target(fake_llm, "m")], [target(second, "m2")]]) as gw, gw.http() as http:
        body = {"model": "m", "messages": ASK, "stream": stream}
        r = http.post("/v1/chat/completions", json=body, headers={"X-Memoryd-User-Id": "ana"})
        label = gw.app.state.gateway.router.targets[0].label
        stats = gw.get("/health")["checks"]["gateway"]["targets"][label]
    assert r.status_code == 200, r.text
    assert _text(r, stream) == "you like jazz"
    said = f"HTTP {status}" if status != 200 else "not JSON"  # as any reply that is not JSON
    assert stats["failures"] == 1 and said in stats["last_error"], stats["last_error"]
