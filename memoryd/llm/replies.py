"""What an upstream request answers and how long it is waited for, without the HTTP client.

:mod:`memoryd.llm.transport`, the client (aiohttp), is imported by :func:`transport` the
first time it is needed — an :class:`~memoryd.llm.transport.HTTPClient` made, a failed
request's exception translated — never when memoryd is: importing aiohttp takes a quarter
of a second (its connector builds TLS contexts), which every ``memoryd`` command would pay,
though most (``list``, ``search``, ``--help``, a fast ``add``) send no request. Modules that
only name the client in annotations import it under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from types import ModuleType
from typing import Any

__all__ = ["ANSWER_TIMEOUT", "AnswerTimeout", "Reply", "answer_deadline", "transport"]


def transport() -> ModuleType:
    """:mod:`memoryd.llm.transport` (and so aiohttp), imported on the first call: the one place
    memoryd imports its HTTP client."""
    from memoryd.llm import transport as module

    return module


class AnswerTimeout(TimeoutError):
    """An answer that did not come in time, though the request was sent (unlike a connect
    timeout): one that did not come whole within :func:`answer_deadline`, or whose bytes
    stopped for longer than a wait for them (aiohttp's ``SocketTimeoutError``, raised by
    :mod:`~memoryd.llm.transport` as a subclass of both)."""


# What a request whose answer did not come in time raises.
ANSWER_TIMEOUT = AnswerTimeout


@contextlib.asynccontextmanager
async def answer_deadline(seconds: float) -> AsyncIterator[None]:
    """Cut the block off after ``seconds`` in all, raising :data:`ANSWER_TIMEOUT` (a reply that
    did not come whole in time, as one whose bytes stopped)."""
    scope = asyncio.timeout(seconds)
    try:
        async with scope:
            yield
    except TimeoutError:
        if not scope.expired():
            raise
        raise ANSWER_TIMEOUT(f"the reply did not come whole within {seconds:g} s") from None


class Reply:
    """A complete HTTP reply: status, headers (case-insensitive) and body."""

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON (``ValueError`` when it is not, or is nested deeper than the parser
        goes: not a ``RecursionError`` escaping every caller's reading of an unreadable body)."""
        try:
            return json.loads(self.content)
        except RecursionError:
            raise ValueError("the JSON is nested too deeply to read") from None
