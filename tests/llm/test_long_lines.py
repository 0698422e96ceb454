"""A streamed reply with no line break (a huge one-line body) is not held whole: past
``MAX_LINE`` bytes of one line the read fails, saying so (found in a review: ``lines()`` gathered
such a body by repeated concatenation, quadratic and without a limit)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from memoryd.errors import LLMError
from memoryd.llm.http import translate_errors
from memoryd.llm.transport import MAX_LINE, HTTPClient, LineTooLong
from memoryd.llm.types import Target
from tests.llm.conftest import serving

PIECE = 64 * 1024


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def one_line(request: web.Request) -> web.StreamResponse:
        """3 MiB without a line break, then a line."""
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for _ in range(3 * MAX_LINE // PIECE):
            await response.write(b"x" * PIECE)
        await response.write(b"\ndata: after\n")
        return response

    async def long_lines(request: web.Request) -> web.StreamResponse:
        """Lines just under the limit, split across reads, then a short one."""
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        body = b"a" * (MAX_LINE - 1) + b"\r\n" + b"b" * MAX_LINE + b"\ndata: end\n"
        for start in range(0, len(body), PIECE - 7):
            await response.write(body[start : start + PIECE - 7])
            await asyncio.sleep(0)
        return response

    app = web.Application()
    app.router.add_post("/one-line", one_line)
    app.router.add_post("/long-lines", long_lines)
    async with serving(app) as url:
        yield url


async def test_a_line_past_the_limit_fails_and_says_so(server: str) -> None:
    http = HTTPClient()
    target = Target("custom", "m", server, timeout_s=10)
    try:
        reply = await http.open(f"{server}/one-line", {}, headers={}, timeout_s=10)
        try:
            with pytest.raises(LineTooLong, match="ran past 1 MiB without a line break"):
                async for _ in reply.lines():
                    pass
        finally:
            await reply.aclose()
        reply = await http.open(f"{server}/one-line", {}, headers={}, timeout_s=10)
        try:
            with pytest.raises(LLMError) as caught, translate_errors(target):
                async for _ in reply.lines():
                    pass
        finally:
            await reply.aclose()
        message = caught.value.message
        assert message.startswith(f"{target.label}: a line of the reply ran past 1 MiB"), message
        assert "connection failed" not in message
    finally:
        await http.aclose()


async def test_lines_up_to_the_limit_are_read_whole(server: str) -> None:
    http = HTTPClient()
    try:
        reply = await http.open(f"{server}/long-lines", {}, headers={}, timeout_s=10)
        try:
            lines = [line async for line in reply.lines()]
        finally:
            await reply.aclose()
        assert [len(line) for line in lines] == [MAX_LINE - 1, MAX_LINE, len("data: end")]
        assert lines[0] == "a" * (MAX_LINE - 1) and lines[-1] == "data: end"
    finally:
        await http.aclose()
