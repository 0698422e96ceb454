"""Two length refusals the dropped-memory retry missed: a 200 stream refused in its first event, a 413.

Before the fix an OpenAI-compatible upstream (OpenRouter, some proxies) that answered a streamed
request with HTTP 200 and then, as its first event, ``{"error": {"code": "context_length_exceeded",
...}}`` was taken for a broken target: the same request with memory went to it again (up to
``llm.max_attempts``) and the caller got a 503, though nothing had reached it and the refusal was
the memory's doing. Now such an event before the answer began is the refusal an HTTP 400 saying it
would be: a request carrying memory is sent once more without it (``X-Memoryd-Memory: dropped``),
and a refusal of that too is relayed. A 413 (a proxy's "Request Entity Too Large" page, Anthropic's
``request_too_large``) answering a request the memory made larger was relayed as it was; now it is
retried without the memory the same way (a 413 of a request without memory is relayed untried).
So is a length refusal some proxies send as a JSON body with status 200, plain or to a stream.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, GatewayServer, add_memory, target
from tests.gateway.test_window_overflow import ASK, FACT, TOO_LONG, _said, _with_memory

SSE = {"content-type": "text/event-stream"}
# How the refusal arrives in a 200 stream: a bare error event (a proxy); OpenRouter's (a comment, a
# role chunk, then a chunk carrying the error, code 400, with finish_reason "error"); Anthropic's
# ``event: error``.
_CHUNK = {"id": "gen-1", "object": "chat.completion.chunk", "created": 1, "model": "m1"}
FIRST_EVENT = {
    "bare": ("custom", f"data: {json.dumps(TOO_LONG['openai'])}\n\n"),
    "openrouter": (
        "custom",
        ": OPENROUTER PROCESSING\n\n"
        + "data: "
        + json.dumps({**_CHUNK, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        + "\n\ndata: "
        + json.dumps(
            {
                **_CHUNK,
                "error": {"code": 400, "message": "This endpoint's maximum context length is 8192 tokens."},
                "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
            }
        )
        + "\n\ndata: [DONE]\n\n",
    ),
    "anthropic": ("anthropic", f"event: error\ndata: {json.dumps(TOO_LONG['anthropic'])}\n\n"),
}
PAGE_413 = "<html><head><title>413 Request Entity Too Large</title></head><body>nginx</body></html>"
REQUEST_TOO_LARGE = {  # Anthropic's 413
    "type": "error",
    "error": {"type": "request_too_large", "message": "Request exceeds the maximum allowed number of bytes."},
}


def _refused_in_stream(raw: str) -> Callable[[Any], Reply]:
    """A 200 stream whose first event refuses a request holding the memory block; else the answer."""
    return lambda p: Reply(raw=raw, headers=SSE) if _with_memory(p) else Reply(text="Biscuit.")


def _413(with_memory_only: bool, *, page: bool = True) -> Callable[[Any], Reply]:
    def respond(payload: Any) -> Reply:
        if with_memory_only and not _with_memory(payload):
            return Reply(text="Biscuit.")
        if page:
            return Reply(raw=PAGE_413, status=413, headers={"content-type": "text/html"})
        return Reply(body=REQUEST_TOO_LARGE, status=413)

    return respond


def _chat(gw: GatewayServer, model: str, *, stream: bool) -> Any:
    with gw.http() as http:
        body = {"model": model, "user": "ana", "messages": ASK, "stream": stream}
        return http.post("/v1/chat/completions", json=body)


def _answered_without_memory(r: Any, script: Script, stream: bool) -> None:
    assert r.status_code == 200, r.text
    assert _said(r, stream) == "Biscuit."
    assert r.headers["x-memoryd-memory"] == "dropped"
    assert r.headers["x-memoryd-memories-injected"] == "0" and r.headers["x-memoryd-writeback"] == "on"
    assert [_with_memory(q.json) for q in script.requests] == [True, False]  # once with, once without


@pytest.mark.parametrize("shape", list(FIRST_EVENT))
def test_a_stream_refused_for_its_length_in_its_first_event_is_answered_without_memory(
    gateway: GatewayFactory, fake_llm: Script, shape: str
) -> None:
    provider, raw = FIRST_EVENT[shape]
    fake_llm.default(Reply(respond=_refused_in_stream(raw)))
    with gateway([[target(fake_llm, "m1", provider=provider)]]) as gw:
        add_memory(gw, FACT, "ana")
        r = _chat(gw, "m1", stream=True)
        writebacks = gw.writebacks()
        health = gw.get("/health")["checks"]["gateway"]
    _answered_without_memory(r, fake_llm, stream=True)
    assert writebacks["stored"] == 1 and health["counts"]["dropped"] == 1
    # a refusal of the request, not a failure of the target
    assert [t["failures"] for t in health["targets"].values()] == [0]


def test_a_stream_refused_in_its_first_event_without_memory_too_relays_the_refusal(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.default(Reply(raw=FIRST_EVENT["bare"][1], headers=SSE))
    with gateway([[target(fake_llm, "m1")]]) as gw:
        add_memory(gw, FACT, "ana")
        r = _chat(gw, "m1", stream=True)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "context_length_exceeded"
    assert r.json()["error"]["message"] == TOO_LONG["openai"]["error"]["message"]
    assert r.headers["x-memoryd-memory"] == "dropped"
    assert [_with_memory(q.json) for q in fake_llm.requests] == [True, False]  # not sent a third time


def test_a_fallback_stream_refused_in_its_first_event_answers_without_memory(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Callable[[], Script]
) -> None:
    """The model asked for is down; the next tier's refuses the stream with memory in its first event."""
    down = fake_llm_factory()
    down.default(Reply(status=503, text=None))
    fake_llm.default(Reply(respond=_refused_in_stream(FIRST_EVENT["openrouter"][1])))
    with gateway([[target(down, "big")], [target(fake_llm, "small")]], llm={"max_attempts": 2}) as gw:
        add_memory(gw, FACT, "ana")
        r = _chat(gw, "big", stream=True)
    _answered_without_memory(r, fake_llm, stream=True)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_json_refusal_for_its_length_answered_with_200_is_answered_without_memory(
    gateway: GatewayFactory, fake_llm: Script, stream: bool
) -> None:
    """Some proxies answer ``{"error": ...}`` with status 200, plain or to a streamed request (no events)."""
    refusal, ok = TOO_LONG["openai"], Reply(text="Biscuit.")
    fake_llm.default(Reply(respond=lambda p: Reply(body=refusal) if _with_memory(p) else ok))
    with gateway([[target(fake_llm, "m1")]]) as gw:
        add_memory(gw, FACT, "ana")
        r = _chat(gw, "m1", stream=stream)
    _answered_without_memory(r, fake_llm, stream)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("page", [True, False], ids=["proxy-page", "anthropic-413"])
def test_a_413_of_a_request_with_memory_is_answered_without_it(
    gateway: GatewayFactory, fake_llm: Script, stream: bool, page: bool
) -> None:
    fake_llm.default(Reply(respond=_413(True, page=page)))
    with gateway([[target(fake_llm, "m1", provider="custom" if page else "anthropic")]]) as gw:
        add_memory(gw, FACT, "ana")
        r = _chat(gw, "m1", stream=stream)
    _answered_without_memory(r, fake_llm, stream)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_413_without_memory_too_is_relayed(gateway: GatewayFactory, fake_llm: Script, stream: bool) -> None:
    fake_llm.default(Reply(respond=_413(False)))
    with gateway([[target(fake_llm, "m1")]]) as gw:
        add_memory(gw, FACT, "ana")
        r = _chat(gw, "m1", stream=stream)
    assert r.status_code == 413, r.text
    assert "413 Request Entity Too Large" in r.json()["error"]["message"]
    assert r.headers["x-memoryd-memory"] == "dropped"
    assert [_with_memory(q.json) for q in fake_llm.requests] == [True, False]
