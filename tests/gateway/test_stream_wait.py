"""A stream's first chunk is waited for like a non-streamed answer: a slow start is not a failure.

``llm.timeout_s`` cut the whole opening of a stream, the wait for its first chunk
included: a model slow to start (a long prompt, a reasoning model, OpenRouter's
keep-alive comments) was sent the request three times, then the client had a 503
and the breaker shut the target out. The first chunk is now waited for up to
``gateway.answer_timeout_s`` in all (keep-alive comments do not put it off:
test_stream_keepalive_deadline.py) and never asked of the same target twice; the pauses
after it stay bounded by ``llm.timeout_s``. A chunk that holds only the assistant's role,
which many servers send at once, is not the first chunk: the answer has not started.
"""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest

from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, target

Q = [{"role": "user", "content": "Think hard, then answer."}]
SLOW = "a slow but complete answer"


def _text(gw: Any, model: str = "m") -> str:
    stream = gw.client().chat.completions.create(model=model, messages=Q, stream=True)
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


@pytest.mark.parametrize(
    "slow_start",
    [
        pytest.param({"first_wait": 2.5, "keepalive": 0.4}, id="keep-alive-comments"),
        pytest.param({"first_wait": 2.5}, id="silence-after-the-headers"),
        pytest.param({"delay": 2.5}, id="no-headers-yet"),
    ],
)
def test_a_stream_slow_to_its_first_chunk_is_waited_for_and_asked_once(
    gateway: GatewayFactory, fake_llm: Script, slow_start: dict[str, float]
) -> None:
    fake_llm.push(Reply(text=SLOW, **slow_start))
    fake_llm.default_text("quick")
    with gateway([[target(fake_llm, "m")]], llm={"timeout_s": 1.0, "max_attempts": 3}) as gw:
        assert _text(gw) == SLOW
        assert len(fake_llm.requests) == 1  # one generation, billed once
        assert _text(gw) == "quick"  # the target was not shut out
        [stats] = gw.get("/health")["checks"]["gateway"]["targets"].values()
    assert (stats["state"], stats["failures"], stats["successes"]) == ("closed", 0, 2)


def test_a_first_chunk_past_the_answer_timeout_is_not_asked_again_but_falls_back(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    second = fake_llm_factory()
    fake_llm.push(Reply(text="too late", first_wait=30))  # sent, and silent
    second.default_text("from the backup")
    tiers = [[target(fake_llm, "a")], [target(second, "b")]]
    llm = {"timeout_s": 5.0, "max_attempts": 4, "breaker_failures": 100}
    with gateway(tiers, llm=llm, gateway={"answer_timeout_s": 1.0}) as gw:
        started = time.monotonic()
        assert _text(gw, "a") == "from the backup"
        took = time.monotonic() - started
        stats = gw.app.state.gateway.router.stats()["targets"]
    assert len(fake_llm.requests) == 1 and len(second.requests) == 1
    assert took < 4  # gateway.answer_timeout_s, not llm.timeout_s
    [first] = [s for s in stats.values() if s["tier"] == 1]
    assert "no answer within 1 s of sending" in first["last_error"]


def test_a_stream_that_stalls_after_its_first_chunk_is_cut_after_the_targets_timeout(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.push(Reply(text="one two three", pause=(2, 30)))  # the role, "one ", then silence
    with gateway([[target(fake_llm, "m")]], llm={"timeout_s": 1.0}) as gw:
        started = time.monotonic()
        with pytest.raises(openai.APIError):
            _text(gw)
        took = time.monotonic() - started
    assert took < 4  # llm.timeout_s, not gateway.answer_timeout_s (600 s)
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize("provider", ["custom", "anthropic"])
def test_a_role_chunk_alone_does_not_start_the_stall_clock(
    gateway: GatewayFactory, fake_llm: Script, provider: str
) -> None:
    """Many servers send the role chunk (Anthropic: ``message_start``) at once, then think: that
    wait is the first chunk's (``answer_timeout_s``), not a stall cut after ``llm.timeout_s``."""
    fake_llm.push(Reply(text=SLOW, pause=(1, 2.5)))
    with gateway([[target(fake_llm, "m", provider)]], llm={"timeout_s": 1.0, "max_attempts": 3}) as gw:
        assert _text(gw) == SLOW
        [stats] = gw.get("/health")["checks"]["gateway"]["targets"].values()
    assert len(fake_llm.requests) == 1
    assert (stats["failures"], stats["successes"]) == (0, 1)
