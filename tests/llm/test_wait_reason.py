"""Why a call gave up, said in its error: a 429 asking for a longer wait than ``llm.max_wait_s`` is
not tried again within the call, and the error says that, not only "HTTP 429".

Fix: the error read "no LLM target answered (1 attempts): …: HTTP 429: slow down", leaving the
user to guess why the router, set to three attempts, made one.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from memoryd.errors import LLMUnavailableError
from memoryd.llm import Router
from tests.fakes.llm_server import Script
from tests.llm.conftest import target

HELLO = [{"role": "user", "content": "hello"}]


async def test_a_wait_past_max_wait_s_is_named_as_why_no_retry_followed(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.fail(429, retry_after=120, message="slow down")
    router = make_router([[target(fake_llm)]], max_attempts=3, max_wait_s=10)
    with pytest.raises(LLMUnavailableError) as info:
        await router.complete(HELLO)
    assert len(fake_llm.requests) == 1
    message = info.value.message
    assert message.startswith("no LLM target answered (1 attempt): ")
    assert "slow down (asked to wait 120 s, longer than llm.max_wait_s, 10 s: not tried again)" in message


async def test_a_wait_within_max_wait_s_is_waited_for_and_not_blamed(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.fail(429, retry_after=0.05, message="slow down", times=3)
    router = make_router([[target(fake_llm)]], max_attempts=3, max_wait_s=10, breaker_failures=5)
    with pytest.raises(LLMUnavailableError) as info:
        await router.complete(HELLO)
    assert len(fake_llm.requests) == 3
    assert "(3 attempts)" in info.value.message and "max_wait_s" not in info.value.message
