"""Upstreams that misbehave, over real loopback HTTP: a body trickled forever, an absurd
Retry-After, an error sent as a success, every target's breaker open."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from memoryd.errors import LLMError, LLMTimeoutError, LLMUnavailableError
from memoryd.llm import Router, Target
from memoryd.llm.openai_client import OpenAIChat
from memoryd.llm.transport import ANSWER_TIMEOUT, HTTPClient
from memoryd.llm.types import ChatRequest
from tests.fakes.llm_server import Reply, Script
from tests.llm.conftest import KEY, Clock, serving, target

HELLO = [{"role": "user", "content": "hello"}]
# How long a test waits for what should end by itself (never reached when it works).
GUARD_S = 20


@pytest.fixture
async def trickle() -> AsyncIterator[str]:
    """A base URL whose every POST is answered 200 at once, then one byte of body each 0.1 s, forever
    (each wait for bytes is short; the body never ends)."""

    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "application/json"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):  # the client gave up
            while True:
                await response.write(b" ")
                await asyncio.sleep(0.1)
        return response

    app = web.Application()
    app.router.add_post("/{tail:.*}", drip)
    async with serving(app) as url:
        yield f"{url}/v1"


async def test_a_body_trickled_forever_is_cut_off_at_the_targets_timeout(trickle: str) -> None:
    http = HTTPClient()
    slow = Target("custom", "m", trickle, api_key=KEY, timeout_s=0.5)
    try:
        with pytest.raises(LLMTimeoutError, match="no answer within 0.5 s"):
            # the guard only keeps a regression from hanging the suite
            await asyncio.wait_for(OpenAIChat().complete(http, slow, ChatRequest(HELLO)), GUARD_S)
    finally:
        await http.aclose()


async def test_a_whole_reply_is_bounded_by_the_answer_wait_in_all(trickle: str) -> None:
    http = HTTPClient()
    try:
        with pytest.raises(ANSWER_TIMEOUT, match="did not come whole within 0.5 s"):
            await asyncio.wait_for(
                http.post(f"{trickle}/chat/completions", {}, headers={}, timeout_s=5, read_timeout_s=0.5),
                GUARD_S,
            )
        reply = await http.open(f"{trickle}/chat/completions", {}, headers={}, timeout_s=0.5)
        try:
            with pytest.raises(ANSWER_TIMEOUT):  # an error status's body read whole: the same bound
                await asyncio.wait_for(reply.read(), GUARD_S)
        finally:
            await reply.aclose()
    finally:
        await http.aclose()


@pytest.mark.parametrize("value", ["99999999", "inf", "1e400", "Fri, 01 Jan 2100 00:00:00 GMT"])
async def test_an_absurd_retry_after_is_capped(
    value: str, fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.fail(429, headers={"retry-after": value}, message="slow down")
    router = make_router([[target(fake_llm)]], max_attempts=3)
    with pytest.raises(LLMUnavailableError) as info:
        await router.complete(HELLO)
    assert len(fake_llm.requests) == 1  # longer than max_wait_s: not waited for
    assert info.value.retry_after == 3600  # an hour at most (memoryd.llm.http.MAX_RETRY_AFTER_S)
    assert info.value.http_headers() == {"Retry-After": "3600"}


async def test_an_error_sent_with_status_200_is_named(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.reply_body({"error": {"message": "Provider returned error: no credits", "code": 402}})
    fake_llm.reply_body({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    openai, anthropic = target(fake_llm), target(fake_llm, provider="anthropic")
    for t, said in ((openai, "no credits"), (anthropic, "Overloaded")):
        router = make_router([[t]], max_attempts=1)
        with pytest.raises(LLMUnavailableError) as info:
            await router.complete(HELLO)
        assert f"{t.label}: an error (sent with HTTP 200): " in info.value.message
        assert said in info.value.message
        assert isinstance(info.value.causes[t.label], LLMError)


async def test_all_breakers_open_names_each_target_and_its_last_error(
    fake_llm: Script, fake_llm_factory: Callable[[], Script], make_router: Callable[..., Router]
) -> None:
    other = fake_llm_factory()
    fake_llm.default(Reply(status=500, text=None, message="primary exploded"))
    other.default(Reply(status=503, text=None, message="gemini melted"))
    first, second = (
        target(fake_llm, provider="anthropic", model="c"),
        target(other, provider="gemini", model="g"),
    )
    router = make_router([[first], [second]], breaker_failures=1, breaker_cooldown_s=30, clock=Clock())
    with pytest.raises(LLMUnavailableError):
        await router.complete(HELLO)  # both fail and both breakers open
    with pytest.raises(LLMUnavailableError) as info:
        await router.complete(HELLO)  # nothing is called: each is named with what opened it
    assert len(fake_llm.requests) == len(other.requests) == 1
    errors = [failure["error"] for failure in info.value.failures]
    assert errors == [
        f"{first.label}: circuit open after 1 consecutive failures "
        "(next probe in 30.0 s; last error: HTTP 500: primary exploded)",
        f"{second.label}: circuit open after 1 consecutive failures "
        "(next probe in 30.0 s; last error: HTTP 503: gemini melted)",
    ]
