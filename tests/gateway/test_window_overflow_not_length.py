"""Refusals that only look like a length refusal: not retried without memory, not relayed as one.

The dropped-memory retry (tests/gateway/test_window_overflow*.py) takes an upstream's words for a
refusal of the request's length. Two kinds of words were taken for it though they say something
else: a parameter or field *named* ``context_length`` / ``context_window`` (an unknown argument, a
422 validation error listing it), which was sent a second time without the memory and answered
``X-Memoryd-Memory: dropped``; and a rate limit an upstream sends in place of an answer ("Too many
tokens, please wait", code 429, as the first event of a 200 stream or a 200 body), which was
relayed to the caller as a 400 instead of failing over to the next target.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, add_memory, target
from tests.gateway.test_window_overflow import ASK, FACT, _said, _with_memory

SSE = {"content-type": "text/event-stream"}
NAMED_FIELD = {
    "unknown-argument": (400, {"error": {
        "message": "Unrecognized request argument supplied: context_window", "type": "invalid_request_error",
        "param": None, "code": None,
    }}),
    "validation-422": (422, {"detail": [{
        "type": "extra_forbidden", "loc": ["body", "context_length"], "msg": "Extra inputs are not permitted",
        "input": 8192,
    }]}),
}  # fmt: skip
THROTTLED = {"error": {"code": 429, "message": "Too many tokens, please wait before trying again."}}


def _chat(gw: Any, model: str, *, stream: bool) -> Any:
    with gw.http() as http:
        body = {"model": model, "user": "ana", "messages": ASK, "stream": stream}
        return http.post("/v1/chat/completions", json=body)


@pytest.mark.parametrize("case", list(NAMED_FIELD))
def test_a_refusal_naming_a_context_length_field_is_relayed_untried(
    gateway: GatewayFactory, fake_llm: Script, case: str
) -> None:
    status, body = NAMED_FIELD[case]
    fake_llm.default(Reply(status=status, body=body))
    with gateway([[target(fake_llm, "m1")]]) as gw:
        add_memory(gw, FACT, "ana")
        r = _chat(gw, "m1", stream=False)
    assert r.status_code == status, r.text
    assert r.headers["x-memoryd-memory"] == "injected"
    assert [_with_memory(q.json) for q in fake_llm.requests] == [True]  # sent once, as it was


def _throttled(stream: bool) -> Callable[[Any], Reply]:
    if stream:
        return lambda p: Reply(raw=f"data: {json.dumps(THROTTLED)}\n\n", headers=SSE)
    return lambda p: Reply(body=THROTTLED)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_rate_limit_in_place_of_an_answer_falls_back_to_the_next_target(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Callable[[], Script], stream: bool
) -> None:
    busy = fake_llm_factory()
    busy.default(Reply(respond=_throttled(stream)))
    fake_llm.default(Reply(text="Biscuit."))
    with gateway([[target(busy, "big")], [target(fake_llm, "small")]], llm={"max_attempts": 2}) as gw:
        add_memory(gw, FACT, "ana")
        r = _chat(gw, "big", stream=stream)
    assert r.status_code == 200, r.text
    assert _said(r, stream) == "Biscuit."
    assert r.headers["x-memoryd-memory"] == "injected"  # the memory was not the trouble
    assert [_with_memory(q.json) for q in fake_llm.requests] == [True]
