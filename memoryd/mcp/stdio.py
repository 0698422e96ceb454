"""The MCP stdio transport: one JSON-RPC message per line on stdin, answers on stdout.

stdout carries protocol messages and nothing else: while the server runs, file
descriptor 1 points at stderr (a library that prints, a C extension that writes to fd
1, go to stderr) and the messages go out on a private copy of the original stdout.
stdin is read on a thread (it may be a pipe, a file or a terminal), and messages are
written on another: a client that stops reading stdout stalls neither the calls under
way nor SIGTERM (while more than :data:`MAX_BACKLOG_BYTES` of answers wait, or
:data:`MAX_IN_FLIGHT` requests are under way, no more input is taken; and no more than
:data:`MAX_QUEUED_BYTES` of lines wait to be taken, so a client that floods stdin holds
that much memory, not all it sends). At the end of
input, or on SIGTERM, calls under way finish (a write the client asked for is never cut
short) and the store is closed; on SIGTERM, answers the client does not read within a
few seconds are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any, Protocol

from memoryd.config import Settings
from memoryd.errors import InvalidInputError
from memoryd.mcp.protocol import McpSession, encode_message
from memoryd.memory import AsyncMemory

__all__ = ["MAX_BACKLOG_BYTES", "MAX_LINE_BYTES", "serve_stdio"]

MAX_LINE_BYTES = 16 * 1024 * 1024  # a longer line is answered with a parse error and skipped
MAX_BACKLOG_BYTES = 16 * 1024 * 1024  # answers the client has not read yet; beyond, stdin waits
MAX_IN_FLIGHT = 256  # requests under way; beyond, the next line waits
MAX_QUEUED_BYTES = 16 * 1024 * 1024  # lines read and not yet taken; beyond, stdin waits
_FLUSH_GRACE_S = 3.0  # after SIGTERM, how long answers may take to reach a slow client
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


class _Writer:
    """Writes the protocol's messages to ``out`` on a thread of its own, in order. ``room`` is
    clear while more than :data:`MAX_BACKLOG_BYTES` wait; ``on_broken`` is called (on the
    thread) if the client closes stdout, after which messages are dropped."""

    def __init__(self, out: IO[bytes], on_broken: Callable[[], None]) -> None:
        self._fd = os.dup(out.fileno())  # its own: closing ``out`` never pulls it from under a write
        self._on_broken = on_broken
        self._messages: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._backlog = 0
        self.room = threading.Event()
        self.room.set()
        self.broken = threading.Event()
        self.flushed = threading.Event()  # every message written (or dropped), after close()
        threading.Thread(target=self._run, name="mcp-stdout", daemon=True).start()

    def write(self, data: bytes) -> None:
        if self.broken.is_set():
            return
        with self._lock:
            self._backlog += len(data)
            if self._backlog > MAX_BACKLOG_BYTES:
                self.room.clear()
        self._messages.put(data)

    def close(self) -> None:
        self._messages.put(None)

    def _run(self) -> None:
        try:
            while (data := self._messages.get()) is not None:
                if not self.broken.is_set():
                    try:
                        view = memoryview(data)
                        while view:
                            view = view[os.write(self._fd, view) :]
                    except OSError:  # the client stopped reading: stop taking requests, finish the rest
                        self.broken.set()
                        self._on_broken()
                with self._lock:
                    self._backlog -= len(data)
                    if self._backlog <= MAX_BACKLOG_BYTES or self.broken.is_set():
                        self.room.set()
        finally:
            os.close(self._fd)
            self.flushed.set()


class _Inbox:
    """How many bytes of lines the reader has handed over and the server not yet taken: the
    reader waits while more than :data:`MAX_QUEUED_BYTES` do (one line always passes)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._bytes = 0

    def reserve(self, size: int) -> None:
        """Before handing over a line of ``size`` bytes (the reader's thread): wait for room."""
        with self._cond:
            self._cond.wait_for(lambda: self._bytes == 0 or self._bytes + size <= MAX_QUEUED_BYTES)
            self._bytes += size

    def release(self, size: int) -> None:
        """Once a line of ``size`` bytes is taken (any thread)."""
        with self._cond:
            self._bytes -= size
            self._cond.notify_all()


class _Lines(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


class _FdLines:
    """Lines read straight from a file descriptor. Not ``sys.stdin.buffer``: the reading
    thread is still blocked in a read when the interpreter exits, and a buffered file whose
    lock a thread holds then aborts the process (exit -6, "could not acquire lock")."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()
        self._eof = False

    def readline(self, size: int = -1, /) -> bytes:
        limit = size if size > 0 else sys.maxsize
        while True:
            end = self._buffer.find(b"\n", 0, limit)
            if end < 0 and (self._eof or len(self._buffer) >= limit):
                end = min(limit, len(self._buffer)) - 1  # the end of input, or of what may be read
            if end >= 0 or self._eof:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line
            chunk = os.read(self._fd, 1 << 16)
            self._buffer += chunk
            self._eof = not chunk


def _read_lines(
    source: _Lines,
    loop: asyncio.AbstractEventLoop,
    lines: asyncio.Queue[bytes | None],
    room: threading.Event | None = None,
    inbox: _Inbox | None = None,
) -> None:
    """Feed ``lines`` from ``source`` (on a thread); ``None`` at the end of input. While
    ``room`` is clear (answers pile up unread), or ``inbox`` is full (lines pile up untaken),
    nothing more is read."""
    try:
        while True:
            if room is not None:
                room.wait()
            line = source.readline(MAX_LINE_BYTES + 1)
            if not line:
                break
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while (rest := source.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass  # skip the rest of the over-long line
                line = _TOO_LONG
            if line.strip():
                if inbox is not None:
                    inbox.reserve(len(line))
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
    for name, stream in (("stdin", stdin or sys.stdin), ("stdout", sys.stdout)):
        if stream is None:  # started with it closed (`memoryd mcp <&-`): no client to serve
            raise InvalidInputError(
                f"memoryd mcp speaks to its client on stdin and stdout, and {name} is closed: start it "
                "from an MCP client (or with pipes)",
                field=name,
            )
    source: _Lines = stdin if stdin is not None else _FdLines(sys.stdin.fileno())
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[bytes | None] = asyncio.Queue()
    stopping = asyncio.Event()  # SIGTERM

    def end_of_input() -> None:  # on the writer's thread
        with contextlib.suppress(RuntimeError):  # the loop already closed
            loop.call_soon_threadsafe(lines.put_nowait, None)

    def terminate() -> None:
        stopping.set()
        lines.put_nowait(None)

    with _protocol_stdout() as out:
        writer = _Writer(out, end_of_input)
        try:
            async with AsyncMemory(settings) as memory:

                async def send(message: Any) -> None:
                    writer.write(encode_message(message) + b"\n")

                session = McpSession(memory, send, user_id=user_id, agent_id=agent_id, run_id=run_id)
                warming = asyncio.create_task(memory.warm())  # the model loads while the client starts up
                with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals off the main thread
                    loop.add_signal_handler(signal.SIGTERM, terminate)
                inbox = _Inbox()
                reading = (source, loop, lines, writer.room, inbox)
                threading.Thread(target=_read_lines, args=reading, daemon=True).start()
                while True:
                    while not stopping.is_set() and (
                        not writer.room.is_set() or session.in_flight >= MAX_IN_FLIGHT
                    ):  # a flood, or a client that stops reading: take no more until it eases
                        await asyncio.sleep(0.01)
                    if (line := await lines.get()) is None:
                        break
                    inbox.release(len(line))
                    if line is _TOO_LONG:  # the answer itself: a session would take it for a response
                        writer.write(_TOO_LONG + b"\n")
                        continue
                    await session.receive(line)
                await session.drain()
                await asyncio.gather(warming, return_exceptions=True)
        finally:
            writer.close()
        deadline = None
        while not writer.flushed.is_set():  # the answers reach the client, unless it stops reading
            if stopping.is_set():
                deadline = deadline or loop.time() + _FLUSH_GRACE_S
                if loop.time() >= deadline:
                    break
            await asyncio.sleep(0.02)
