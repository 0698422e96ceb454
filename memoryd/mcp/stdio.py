"""The MCP stdio transport: one JSON-RPC message per line on stdin, answers on stdout.

stdout carries protocol messages and nothing else: while the server runs, file
descriptor 1 points at stderr (a library that prints, a C extension that writes to fd
1, go to stderr) and the messages go out on a private copy of the original stdout.
stdin is read on a thread (it may be a pipe, a file or a terminal). At the end of
input, or on SIGTERM, calls under way finish (a write the client asked for is never
cut short) and the store is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import IO, Any

from memoryd.config import Settings
from memoryd.mcp.protocol import McpSession
from memoryd.memory import AsyncMemory

__all__ = ["MAX_LINE_BYTES", "serve_stdio"]

MAX_LINE_BYTES = 16 * 1024 * 1024  # a longer line is answered with a parse error and skipped
_TOO_LONG = b'{"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "message too long"}}'


@contextlib.contextmanager
def _protocol_stdout() -> Iterator[IO[bytes]]:
    """A private binary copy of stdout for the protocol; fd 1 and ``sys.stdout`` point at
    stderr meanwhile (restored after)."""
    sys.stdout.flush()
    saved = os.dup(1)
    out = os.fdopen(os.dup(saved), "wb")
    os.dup2(2, 1)
    previous, sys.stdout = sys.stdout, sys.stderr
    try:
        yield out
    finally:
        sys.stdout = previous
        os.dup2(saved, 1)
        os.close(saved)
        out.close()


def _read_lines(
    source: IO[bytes], loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[bytes | None]
) -> None:
    """Feed ``lines`` from ``source`` (on a thread); ``None`` at the end of input."""
    try:
        while True:
            line = source.readline(MAX_LINE_BYTES + 1)
            if not line:
                break
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while (rest := source.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass  # skip the rest of the over-long line
                line = _TOO_LONG
            if line.strip():
                loop.call_soon_threadsafe(lines.put_nowait, line)
    except (OSError, ValueError):
        pass  # stdin closed under us: the end of input
    finally:
        with contextlib.suppress(RuntimeError):  # the loop already closed
            loop.call_soon_threadsafe(lines.put_nowait, None)


async def serve_stdio(
    settings: Settings,
    *,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    stdin: IO[bytes] | None = None,
) -> None:
    """Serve one MCP client on stdin/stdout until the end of its input (or SIGTERM)."""
    source = stdin if stdin is not None else sys.stdin.buffer
    with _protocol_stdout() as out:
        async with AsyncMemory(settings) as memory:

            async def send(message: Any) -> None:
                if closed.is_set():
                    return
                try:
                    out.write(json.dumps(message, ensure_ascii=False, default=str).encode("utf-8") + b"\n")
                    out.flush()
                except OSError:  # the client stopped reading: stop taking requests, finish the rest
                    closed.set()
                    lines.put_nowait(None)

            closed = asyncio.Event()
            lines: asyncio.Queue[bytes | None] = asyncio.Queue()
            session = McpSession(memory, send, user_id=user_id, agent_id=agent_id, run_id=run_id)
            loop = asyncio.get_running_loop()
            warming = asyncio.create_task(memory.warm())  # the model loads while the client starts up
            with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals off the main thread
                loop.add_signal_handler(signal.SIGTERM, lines.put_nowait, None)
            reader = threading.Thread(target=_read_lines, args=(source, loop, lines), daemon=True)
            reader.start()
            while (line := await lines.get()) is not None:
                await session.receive(line)
            await session.drain()
            await asyncio.gather(warming, return_exceptions=True)
