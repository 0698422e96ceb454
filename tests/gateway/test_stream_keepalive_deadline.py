"""Keep-alive comments do not put off a stream's ``gateway.answer_timeout_s``.

Each SSE comment before the first data chunk (OpenRouter's ``: OPENROUTER PROCESSING``)
started the wait for that chunk again: an upstream sending keep-alives forever held the
client forever, where a silent one is given up on after ``answer_timeout_s``. The wait for
the first chunk now has a deadline in all, so such an upstream is treated as a silent one:
not asked again, the next target tried, and without one the client has the 503 naming the
timeout. Both tests failed on the code before the fix (the keep-alives outlasted the deadline
and the late answer was relayed).
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, target

Q = [{"role": "user", "content": "Think hard, then answer."}]
# Keep-alives far past the 1 s answer timeout, then an answer: it must not be the one relayed.
KEPT_ALIVE = Reply(text="too late", first_wait=8, keepalive=0.2)


def _text(gw: Any, model: str) -> str:
    stream = gw.client().chat.completions.create(model=model, messages=Q, stream=True)
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_a_stream_kept_alive_past_the_answer_timeout_falls_back_like_a_silent_one(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    second = fake_llm_factory()
    fake_llm.push(KEPT_ALIVE)
    second.default_text("from the backup")
    tiers = [[target(fake_llm, "a")], [target(second, "b")]]
    llm = {"timeout_s": 5.0, "max_attempts": 4, "breaker_failures": 100}
    with gateway(tiers, llm=llm, gateway={"answer_timeout_s": 1.0}) as gw:
        assert _text(gw, "a") == "from the backup"
        stats = gw.app.state.gateway.router.stats()["targets"]
    assert len(fake_llm.requests) == 1 and len(second.requests) == 1  # not sent to it again
    [first] = [s for s in stats.values() if s["tier"] == 1]
    assert "no answer within 1 s of sending" in first["last_error"]


def test_a_stream_kept_alive_past_the_answer_timeout_is_the_clients_503(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.push(KEPT_ALIVE)
    tiers = [[target(fake_llm, "m")]]
    with (
        gateway(tiers, llm={"timeout_s": 5.0}, gateway={"answer_timeout_s": 1.0}) as gw,
        pytest.raises(openai.InternalServerError) as failed,
    ):
        _text(gw, "m")
    assert failed.value.status_code == 503 and failed.value.code == "upstream_unavailable"
    assert "no answer within 1 s of sending" in failed.value.message
    assert len(fake_llm.requests) == 1
