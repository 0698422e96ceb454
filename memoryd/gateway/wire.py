"""What the gateway needs from a wire format, and which one a target speaks.

A :class:`Wire` turns the client's OpenAI chat request (memory already
injected) into the upstream's request, the upstream's answer into a
``chat.completion`` body, and — through a :class:`StreamTranslator` — the
upstream's server-sent events into ``chat.completion.chunk`` objects. There is
one per wire format (OpenAI, Anthropic, Gemini); vendors are data
(:mod:`memoryd.llm.providers`), so every OpenAI-compatible vendor uses the
OpenAI one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

from memoryd.errors import LLMError
from memoryd.gateway.sse import Event
from memoryd.llm.providers import vendor
from memoryd.llm.types import Target, Usage

__all__ = ["StreamTranslator", "UpstreamCall", "Wire", "event_json", "raise_stream_error", "wire_for"]


@dataclass(frozen=True)
class UpstreamCall:
    """One HTTP request to an upstream: where, with which headers, body and query."""

    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    params: dict[str, str] = field(default_factory=dict)


class StreamTranslator(Protocol):
    """Reads one upstream stream's events and says which OpenAI chunks to send for each."""

    done: bool  # the upstream said the answer is complete
    ended: bool  # the upstream said nothing follows ([DONE], message_stop): stop reading
    usage: Usage | None  # what the upstream reported, even when the client does not see it

    def feed(self, event: Event) -> list[dict[str, Any]]:
        """The chunks for this event (none for bookkeeping events); :class:`LLMError` on an error event."""
        ...

    def finish(self) -> list[dict[str, Any]]:
        """Chunks to send once the upstream stream has ended (the usage chunk, when asked for)."""
        ...


class Wire(Protocol):
    """One wire format, seen from the gateway."""

    def request(self, target: Target, body: dict[str, Any], *, stream: bool, usage: bool) -> UpstreamCall:
        """The upstream request for ``body``; ``usage``: ask for usage in the stream if the format can."""
        ...

    def completion(self, target: Target, data: Any) -> dict[str, Any]:
        """The ``chat.completion`` body for the upstream's JSON answer; :class:`LLMError` if malformed."""
        ...

    def translator(self, target: Target, body: dict[str, Any], *, usage: bool) -> StreamTranslator: ...


def event_json(target: Target, event: Event) -> Any:
    """A stream event's JSON data; :class:`LLMError` if it is not JSON."""
    try:
        return json.loads(event.data)
    except ValueError:
        raise LLMError(f"{target.label}: a stream event is not JSON", target=target.label) from None


def raise_stream_error(target: Target, error: Any) -> NoReturn:
    """End the stream with the upstream's own error (an object with ``message``, or any value)."""
    message = error.get("message") if isinstance(error, dict) else str(error)
    raise LLMError(f"{target.label}: stream error: {message}", target=target.label)


def wire_for(target: Target) -> Wire:
    """The wire format ``target``'s vendor speaks."""
    from memoryd.gateway import wire_anthropic, wire_gemini, wire_openai

    wires: dict[str, Wire] = {
        "openai": wire_openai.WIRE,
        "anthropic": wire_anthropic.WIRE,
        "gemini": wire_gemini.WIRE,
    }
    return wires[vendor(target.provider).wire]
