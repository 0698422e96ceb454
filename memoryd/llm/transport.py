"""The HTTP client of every upstream LLM call: one aiohttp connection pool per router.

Chosen by measurement. Against a loopback server answering at once, httpx's
``AsyncClient`` spent about 1 ms of CPU per request one at a time and 2.3 ms
with 32 requests in flight (its pool looks at every connection for every
request); aiohttp spent 0.25 ms and 0.17 ms. A chat gateway on two cores
serving 200 calls a second would give a third of a core to the difference.

Replies are plain: :meth:`HTTPClient.post` returns a :class:`Reply` holding the
whole body; :meth:`HTTPClient.open` a :class:`StreamReply` whose lines are read
as they arrive. Transport failures stay aiohttp's and asyncio's exceptions
here; :func:`memoryd.llm.http.translate_errors` turns them into
:class:`~memoryd.errors.LLMError` at the boundary. A timeout bounds connecting
and each wait for bytes (as httpx's did), not a stream's whole length; a stream
that has begun may bound its later waits more tightly
(:meth:`StreamReply.bound_waits`: a first chunk is waited for as long as a
whole answer, the pauses after it not). A reply read whole (:meth:`HTTPClient.post`,
:meth:`StreamReply.read`) must also come whole within that wait in all: a server
trickling its body a byte at a time never lets a wait for bytes run out. A wait for bytes
that runs out raises :data:`~memoryd.llm.replies.ANSWER_TIMEOUT` (as aiohttp's
``SocketTimeoutError`` still).

This module is imported only when a request is to be made (see
:func:`memoryd.llm.replies.transport`): importing aiohttp is slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import socket
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import aiohttp

from memoryd.llm.replies import ANSWER_TIMEOUT, AnswerTimeout, Reply, answer_deadline
from memoryd.redact import mask_url

__all__ = [
    "ANSWER_TIMEOUT",
    "TRANSPORT_ERRORS",
    "MAX_LINE",
    "HTTPClient",
    "LineTooLong",
    "Reply",
    "RequestNotSent",
    "StreamReply",
    "answer_deadline",
    "unreached",
]


class RequestNotSent(aiohttp.ClientError):
    """aiohttp refused to send a request (its ``ValueError``: a URL it cannot use, headers it
    cannot combine with the credentials of a URL): a transport failure, like the others."""


class LineTooLong(aiohttp.ClientPayloadError):
    """A streamed reply's line ran past :data:`MAX_LINE` bytes (a huge body without a line
    break: no event stream); the reply is read no further."""


# The longest line :meth:`StreamReply.lines` reads (an event of a stream is a few KiB at most).
MAX_LINE = 1024 * 1024
# What a failed request raises here (a timeout is a TimeoutError).
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError, OSError)
_ONE_WRITE = 1024 * 1024  # request bodies up to this are sent in one write


class _BytesStopped(aiohttp.SocketTimeoutError, AnswerTimeout):
    """aiohttp's wait for bytes that ran out: still its ``SocketTimeoutError`` (a ``ClientError``),
    and :data:`ANSWER_TIMEOUT` too (the request was sent)."""


@contextlib.contextmanager
def _bytes_stopped() -> Iterator[None]:
    """Raise aiohttp's wait for bytes running out in the block as :class:`_BytesStopped`."""
    try:
        yield
    except aiohttp.SocketTimeoutError as exc:
        if isinstance(exc, AnswerTimeout):
            raise
        raise _BytesStopped(*exc.args) from exc


def unreached(exc: BaseException) -> str | None:
    """Plainly, why no connection to an upstream could be made: its host and port and the OS's
    reason ("could not connect to 127.0.0.1:8000 (Connection refused)"), not aiohttp's "Cannot
    connect to host 127.0.0.1:8000 ssl:default [Connect call failed ...]", which speaks of TLS
    for a plain http:// URL. ``None`` for any other failure, a TLS handshake's included (its
    words are about TLS): those are said as they are."""
    if not isinstance(exc, aiohttp.ClientConnectorError) or isinstance(exc, aiohttp.ClientSSLError):
        return None
    cause = exc.os_error
    if isinstance(cause, socket.gaierror):
        return f"could not resolve the host {exc.host} ({cause.strerror or cause})"
    why = os.strerror(cause.errno) if cause.errno else str(cause) or type(cause).__name__
    proxy = "the proxy " if isinstance(exc, aiohttp.ClientProxyConnectionError) else ""
    return f"could not connect to {proxy}{exc.host}:{exc.port} ({why})"


def _grow(line: bytearray, chunk: bytes, start: int, end: int) -> None:
    """Add ``chunk[start:end]`` to ``line``, or raise :class:`LineTooLong` past :data:`MAX_LINE`."""
    if len(line) + end - start > MAX_LINE:
        raise LineTooLong(
            f"a line of the reply ran past {MAX_LINE // (1024 * 1024)} MiB without a line break "
            "(no event stream: read no further)"
        )
    line += memoryview(chunk)[start:end]


class StreamReply:
    """A reply whose body is still arriving: read it by :meth:`lines` or :meth:`read`, then
    :meth:`aclose` (which gives the connection back, or drops it when the body was not read)."""

    def __init__(self, response: aiohttp.ClientResponse, read_s: float) -> None:
        self._response = response
        self.status_code = response.status
        self.headers: Mapping[str, str] = response.headers
        self._wait_s: float | None = None
        self._read_s = read_s  # the longest wait for bytes, and for the rest of the body by read()

    def bound_waits(self, seconds: float) -> None:
        """Bound each later wait for bytes by ``seconds`` too (a ``TimeoutError`` past it)."""
        self._wait_s = seconds

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines as they arrive, without their line endings (``\\n``, ``\\r\\n``). A
        line longer than :data:`MAX_LINE` bytes raises :class:`LineTooLong` once that much of it
        came: a body that is no stream of lines (one huge line) is not held whole."""
        pending = bytearray()  # the line being read: grown in place, not copied on each chunk
        content = self._response.content
        while True:
            with _bytes_stopped():
                if self._wait_s is None:
                    chunk = await content.readany()
                else:
                    async with asyncio.timeout(self._wait_s):
                        chunk = await content.readany()
            if not chunk:
                break
            start = 0
            while (end := chunk.find(b"\n", start)) >= 0:
                _grow(pending, chunk, start, end)
                line = pending.removesuffix(b"\r").decode("utf-8", errors="replace")
                pending.clear()
                start = end + 1
                yield line
            _grow(pending, chunk, start, len(chunk))
        if pending:
            yield pending.removesuffix(b"\r").decode("utf-8", errors="replace")

    async def read(self) -> Reply:
        """The rest of the body, whole, within the reply's wait for bytes in all."""
        async with answer_deadline(self._read_s):
            with _bytes_stopped():
                content = await self._response.read()
        return Reply(self.status_code, self.headers, content)

    async def aclose(self) -> None:
        self._response.release()


class HTTPClient:
    """Connection pools for upstream calls, made on first use in the event loop that uses them
    (``connections`` in flight at most: streams from slow models stay open for seconds)."""

    def __init__(self, *, user_agent: str = "memoryd", connections: int = 512) -> None:
        self._headers = {"user-agent": user_agent}
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str], str | None] = {}

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, ttl_dns_cache=300),
                headers=self._headers,
            )
        return self._session

    def _proxy(self, url: str) -> str | None:
        """The proxy for ``url`` from HTTP(S)_PROXY / NO_PROXY (as httpx honoured them), looked up
        once per host: aiohttp's ``trust_env`` reads the environment and ~/.netrc on a thread
        for every request."""
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key not in self._proxies:
            proxy = urllib.request.getproxies().get(parts.scheme)
            bypass = proxy is not None and urllib.request.proxy_bypass(parts.hostname or "")
            self._proxies[key] = None if bypass else proxy
        return self._proxies[key]

    async def post(
        self,
        url: str,
        body: Any,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        timeout_s: float,
        read_timeout_s: float | None = None,
    ) -> Reply:
        """POST ``body`` as JSON and read the whole reply: the call in all (connecting, headers and
        body) takes at most ``read_timeout_s`` (default: ``timeout_s``), or :data:`ANSWER_TIMEOUT`."""
        async with answer_deadline(timeout_s if read_timeout_s is None else read_timeout_s):
            reply = await self.open(
                url, body, headers=headers, params=params, timeout_s=timeout_s, read_timeout_s=read_timeout_s
            )
            try:
                return await reply.read()
            finally:
                await reply.aclose()

    async def open(
        self,
        url: str,
        body: Any,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        timeout_s: float,
        read_timeout_s: float | None = None,
    ) -> StreamReply:
        """POST ``body`` as JSON and return once the status and headers are in. ``timeout_s``
        bounds connecting and each wait for bytes; ``read_timeout_s``, when given, the waits for
        bytes instead (a long generation answered whole)."""
        encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        # A body over 1 MiB (images inline) is written a piece at a time, not in one write that
        # holds the event loop (aiohttp warns of raw bytes that large).
        data: bytes | io.BytesIO = io.BytesIO(encoded) if len(encoded) > _ONE_WRITE else encoded
        sent = {"content-type": "application/json", **headers}
        read = timeout_s if read_timeout_s is None else read_timeout_s
        timeout = aiohttp.ClientTimeout(total=None, connect=timeout_s, sock_read=read)
        try:
            with _bytes_stopped():
                # A redirect is not followed: its server would get the key headers aiohttp keeps
                # across servers (all but Authorization) and the messages; the caller names it.
                response = await self._open().post(
                    url, data=data, headers=sent, params=params, timeout=timeout, proxy=self._proxy(url),
                    allow_redirects=False,
                )  # fmt: skip
        except aiohttp.ClientError:
            raise
        except ValueError as exc:
            raise RequestNotSent(mask_url(str(exc) or type(exc).__name__)) from exc
        return StreamReply(response, read)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
