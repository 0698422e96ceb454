"""A write that found no free connection in the client's pool in time is sent again.

httpx's ``PoolTimeout`` (every connection of the client busy with its other calls until the
timeout) was taken as "sent, answer lost", so a write was never retried, though nothing had been
sent: it is a request not carried out, retried as a refused connection is.

The pool is httpx's own (100 connections): 100 reads hold them, the server sending their answers a
byte at a time for a while, so the write waits for the pool past its timeout, then (the reads
answered) is sent on a later try.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from memoryd import AsyncMemoryClient
from memoryd.errors import BackendUnavailableError

POOL = 100  # httpx's default max_connections: the client's pool
PAGE = b'{"results": [], "total": 0, "offset": 0, "limit": 100}'
ADDED = b'{"results": [], "mode": "fast"}'
HELD_BYTES = 40  # each read's answer starts with this many spaces, one per tick
TICK_S = 0.05  # between them: well inside the client's read timeout, so the reads go on


def _head(length: int) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()


@asynccontextmanager
async def holding_reads() -> AsyncIterator[tuple[str, list[bytes], asyncio.Event]]:
    """A loopback server that answers a list slowly (:data:`HELD_BYTES` ticks) and a write at once;
    yields its URL, the request lines it got, and an event set once :data:`POOL` lists arrived."""
    seen: list[bytes] = []
    full = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: a connection serves one request after another
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
                await reader.readexactly(length)
                line = head.split(b"\r\n", 1)[0]
                seen.append(line)
                if not line.startswith(b"POST /v1/memories/list"):
                    writer.write(_head(len(ADDED)) + ADDED)
                    await writer.drain()
                    continue
                if sum(s.startswith(b"POST /v1/memories/list") for s in seen) >= POOL:
                    full.set()
                writer.write(_head(HELD_BYTES + len(PAGE)))
                for _ in range(HELD_BYTES):
                    writer.write(b" ")
                    await writer.drain()
                    await asyncio.sleep(TICK_S)
                writer.write(PAGE)
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=2 * POOL)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", seen, full
    finally:
        server.close()
        await server.wait_closed()


async def test_a_write_that_found_the_pool_busy_is_sent_again() -> None:
    # timeout 0.5 s: the write's wait for a connection; the reads hold theirs for 40 ticks (2 s)
    async with holding_reads() as (url, seen, full), AsyncMemoryClient(url, timeout=0.5, max_retries=5) as client:
        reads = [asyncio.create_task(client.get_all(user_id="ana")) for _ in range(POOL)]
        try:
            await full.wait()  # every connection of the pool is busy
            added = await client.add("the blue notebook is on the shelf", user_id="ana")
            assert list(added) == [] and added.mode == "fast"
            assert [p.total for p in await asyncio.gather(*reads)] == [0] * POOL
        finally:
            for read in reads:
                read.cancel()
            await asyncio.gather(*reads, return_exceptions=True)
    assert seen.count(b"POST /v1/memories HTTP/1.1") == 1  # sent once: the tries before sent nothing


async def test_a_write_given_no_connection_says_the_clients_pool_was_busy_not_the_server() -> None:
    async with holding_reads() as (url, seen, full), AsyncMemoryClient(url, timeout=0.5, max_retries=0) as client:
        reads = [asyncio.create_task(client.get_all(user_id="ana")) for _ in range(POOL)]
        try:
            await full.wait()
            with pytest.raises(BackendUnavailableError, match="connection pool is busy") as err:
                await client.add("the blue notebook is on the shelf", user_id="ana")
            assert "did not answer" not in err.value.message and "not sent" in err.value.message
        finally:
            for read in reads:
                read.cancel()
            await asyncio.gather(*reads, return_exceptions=True)
    assert seen.count(b"POST /v1/memories HTTP/1.1") == 0
