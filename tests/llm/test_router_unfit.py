"""``Router.run(..., unfit=)``: a target not to be sent a call is passed over before any attempt.

The gateway passes over a fallback whose wire would drop what the request asks; doing it
inside the call (an error raised before sending) would count an attempt against
``max_attempts`` and give the target's breaker a verdict on a call it never saw.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from memoryd.errors import LLMUnavailableError
from memoryd.llm import Router, Target
from memoryd.llm.types import ChatRequest
from tests.fakes.llm_server import Script
from tests.llm.conftest import target

ASK = ChatRequest([{"role": "user", "content": "hello"}])


async def test_an_unfit_target_takes_no_attempt_and_no_verdict(
    fake_llm: Script, fake_llm_factory: Callable[[], Script], make_router: Callable[..., Router]
) -> None:
    other = fake_llm_factory()
    fake_llm.fail(503, times=2)
    fake_llm.reply_text("third time lucky")
    router = make_router([[target(fake_llm)], [target(other, model="other")]], max_attempts=3)
    first, second = router.targets

    def unfit(t: Target) -> str | None:
        return f"{t.label}: cannot honour n=2" if t is second else None

    out = await router.run(lambda t: router.call(t, ASK), timeout=False, unfit=unfit)
    assert out.text == "third time lucky" and len(fake_llm.requests) == 3  # all 3 attempts went to it
    assert other.requests == []
    stats = router.stats()["targets"][second.label]
    assert (stats["calls"], stats["failures"], stats["state"]) == (0, 0, "closed")

    fake_llm.fail(503, times=3)
    with pytest.raises(LLMUnavailableError) as none:
        await router.run(lambda t: router.call(t, ASK), timeout=False, unfit=unfit)
    assert [f["error"] for f in none.value.failures][1] == f"{second.label}: cannot honour n=2"
