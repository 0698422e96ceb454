"""Gemini says how long to wait in its error body (RetryInfo), not in a Retry-After header."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from memoryd.errors import LLMUnavailableError
from memoryd.llm import Router
from tests.fakes.llm_server import Script
from tests.llm.conftest import target

# The Gemini API's per-minute rate limit (free tier): the words of a spent quota, and a retry delay.
MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)


def _rate_limited(delay: str) -> dict[str, object]:
    return {
        "error": {
            "code": 429,
            "message": MESSAGE,
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
            ],
        }
    }


async def test_a_rate_limit_with_a_retry_delay_is_waited_for_and_no_breaker_failure(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.reply_body(_rate_limited("0.05s"), status=429)
    fake_llm.reply_text("ok")
    t = target(fake_llm, "gemini", "gemini-2.5-flash")
    router = make_router([[t]], breaker_failures=1)
    assert (await router.complete([{"role": "user", "content": "hi"}])).text == "ok"
    stats = router.stats()["targets"][t.label]
    assert (stats["rate_limited"], stats["failures"], stats["state"]) == (1, 0, "closed")


async def test_a_retry_delay_beyond_the_budget_is_reported_not_a_breaker_failure(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.reply_body(_rate_limited("37s"), status=429)
    t = target(fake_llm, "gemini", "gemini-2.5-flash")
    router = make_router([[t]], breaker_failures=1, max_wait_s=1.0)
    with pytest.raises(LLMUnavailableError) as caught:
        await router.complete([{"role": "user", "content": "hi"}])
    assert caught.value.rate_limited and caught.value.retry_after == pytest.approx(37.0)
    assert len(fake_llm.requests) == 1 and router.stats()["targets"][t.label]["state"] == "closed"
