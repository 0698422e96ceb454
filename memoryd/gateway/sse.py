"""Server-sent events: reading an upstream's stream and writing OpenAI's.

:func:`events` turns the lines of an HTTP body into :class:`Event` objects
(``event:`` and ``data:`` fields, a blank line ends an event, ``:`` lines are
comments). :func:`encode` writes one chunk the way OpenAI does — ``data:``,
compact JSON, a blank line — and :data:`DONE` is the stream's last event.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

__all__ = ["DONE", "KEEPALIVE", "Event", "encode", "events", "json_bytes"]

DONE = b"data: [DONE]\n\n"
# A comment: every SSE client (the OpenAI SDKs included) skips it; proxies and read timeouts see bytes.
KEEPALIVE = b": keep-alive\n\n"


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event: its type (``""`` when unnamed) and its data lines joined."""

    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def json_bytes(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON; text that is not valid Unicode (an upstream's lone
    surrogate) goes as a ``\\uXXXX`` escape, which JSON can carry, rather than fail."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode()


def encode(chunk: Any) -> bytes:
    """One ``data:`` event carrying ``chunk`` as compact JSON."""
    return b"data: " + json_bytes(chunk) + b"\n\n"


async def events(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    """The events of a ``text/event-stream`` body, given its lines (without line endings)."""
    name = ""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield Event(name, "\n".join(data))
            name, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
    if data:
        yield Event(name, "\n".join(data))
