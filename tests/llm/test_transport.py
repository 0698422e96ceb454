"""The upstream HTTP client over real loopback HTTP: bodies, streamed lines, errors, proxies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from memoryd.errors import LLMError, LLMTimeoutError
from memoryd.llm.http import translate_errors
from memoryd.llm.transport import HTTPClient
from memoryd.llm.types import Target
from tests.llm.conftest import dead_url, serving

# A stream whose bytes arrive split at awkward places: inside a line, between \r and \n.
PIECES = [b"data: a", b"bc\r\n\r", b"\ndata: x\n", b"\n", b"last"]


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def echo(request: web.Request) -> web.Response:
        assert request.headers["authorization"] == "Bearer k" and request.headers["user-agent"] == "memoryd"
        raw = await request.read()
        assert b", " not in raw and "héllo".encode() in raw  # compact, UTF-8
        return web.json_response({"echo": await request.json()}, status=int(request.query.get("status", 200)))

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for piece in PIECES:
            await response.write(piece)
            await asyncio.sleep(0.01)  # separate TCP reads
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_post("/stream", stream)
    app.router.add_post("/slow", slow)
    async with serving(app) as url:
        yield url


async def test_post_sends_compact_json_with_the_headers_and_reads_the_reply(server: str) -> None:
    http = HTTPClient()
    try:
        body = {"model": "m", "messages": [{"role": "user", "content": "héllo"}]}
        reply = await http.post(
            f"{server}/echo", body, headers={"authorization": "Bearer k"}, params={"status": "201"}, timeout_s=5
        )
        assert reply.status_code == 201 and reply.json() == {"echo": body}
        assert json.loads(reply.text) == {"echo": body}
        assert reply.headers["Content-Type"].startswith("application/json")  # any case
    finally:
        await http.aclose()


async def test_stream_lines_are_whole_whatever_the_chunks(server: str) -> None:
    http = HTTPClient()
    try:
        reply = await http.open(f"{server}/stream", {}, headers={}, timeout_s=5)
        try:
            assert reply.status_code == 200
            assert [line async for line in reply.lines()] == ["data: abc", "", "data: x", "", "last"]
        finally:
            await reply.aclose()
    finally:
        await http.aclose()


async def test_transport_failures_become_llm_errors_naming_the_target(server: str) -> None:
    http = HTTPClient()
    target = Target("custom", "m", dead_url(), api_key="sk-secret-0123456789", timeout_s=0.3)
    try:
        with pytest.raises(LLMError, match="connection failed") as refused, translate_errors(target):
            await http.post(f"{target.base_url}/chat/completions", {}, headers={}, timeout_s=1)
        assert target.label in refused.value.message and "sk-secret" not in refused.value.message
        with pytest.raises(LLMTimeoutError), translate_errors(target):
            await http.post(f"{server}/slow", {}, headers={}, timeout_s=target.timeout_s)
    finally:
        await http.aclose()


def test_proxies_come_from_the_environment_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    http = HTTPClient()
    assert http._proxy("https://api.openai.com/v1/chat/completions") == "http://proxy.example:3128"
    assert http._proxy("https://internal.example/v1") is None
    assert http._proxy("http://127.0.0.1:8000/v1") is None  # no HTTP_PROXY set
    monkeypatch.delenv("HTTPS_PROXY")
    assert http._proxy("https://api.openai.com/v1/models") == "http://proxy.example:3128"  # remembered
