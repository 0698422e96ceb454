"""Upstreams that misbehave, over real loopback HTTP: a body trickled forever, an absurd
Retry-After, an error sent as a success, every target's breaker open."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from memoryd.errors import LLMTimeoutError
from memoryd.llm import Target
from memoryd.llm.openai_client import OpenAIChat
from memoryd.llm.transport import ANSWER_TIMEOUT, HTTPClient
from memoryd.llm.types import ChatRequest
from tests.llm.conftest import KEY

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
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    finally:
        await runner.cleanup()


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
