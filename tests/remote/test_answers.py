"""A base_url that answers, but not as memoryd does (another JSON API, a proxy that mangles the body):
a :class:`MemorydError` naming the URL, never a KeyError, a TypeError or an httpx exception.

The "server" is a few lines of asyncio on loopback that answer every request with one fixed HTTP
response, as such a server would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from memoryd import AsyncMemoryClient, BackendUnavailableError, MemorydError

CALLS: list[Callable[[AsyncMemoryClient], Awaitable[Any]]] = [
    lambda c: c.get_all(user_id="ana"),
    lambda c: c.get("m1"),
    lambda c: c.search("where?", user_id="ana"),
    lambda c: c.delete("m1"),
    lambda c: c.delete_all(user_id="ana"),
    lambda c: c.history("m1"),
    lambda c: c.context("where?", user_id="ana"),
    lambda c: c.update("m1", "new text"),
    lambda c: c.users(),
    lambda c: c.tree("ana"),
    lambda c: c.delete_user("ana"),
]


def _answer(body: bytes, *headers: str) -> bytes:
    head = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@asynccontextmanager
async def answering(response: bytes) -> AsyncIterator[str]:
    """A loopback HTTP server answering every request with ``response``; yields its URL."""
    async with answering_in_turn([response]) as (url, _):
        yield url


@asynccontextmanager
async def answering_in_turn(answers: list[bytes]) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A loopback HTTP server giving ``answers`` in turn (the last one from then on); yields its
    URL and the request lines it got."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
            await reader.readexactly(length)
            seen.append(head.split(b"\r\n", 1)[0])
            writer.write(answers[min(len(seen), len(answers)) - 1])
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", seen
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "response",
    [
        _answer(b'{"hello": "world"}'),  # another JSON API at base_url: KeyError 'results', 'id'...
        _answer(b"[1, 2]"),  # TypeError: list indices must be integers
        _answer(b'{"results": 3, "deleted": "all", "memory": null}'),
        _answer(b"not gzip", "Content-Encoding: gzip"),  # httpx.DecodingError
    ],
    ids=["object", "list", "wrong-types", "bad-gzip"],
)
async def test_an_answer_that_is_not_memoryds_is_a_memoryd_error(response: bytes) -> None:
    async with answering(response) as url, AsyncMemoryClient(url, timeout=10) as client:
        for call in CALLS:
            with pytest.raises(MemorydError) as raised:
                await call(client)
            assert type(raised.value) is MemorydError and url in raised.value.message, raised.value


async def test_a_health_answer_that_cannot_be_read_is_backend_unavailable() -> None:
    for response in (_answer(b"[]"), _answer(b"not gzip", "Content-Encoding: gzip")):
        async with answering(response) as url, AsyncMemoryClient(url, timeout=10) as client:
            with pytest.raises(BackendUnavailableError) as raised:
                await client.health()
            assert url in raised.value.message and "in time" not in raised.value.message
