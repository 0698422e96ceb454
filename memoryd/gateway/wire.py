"""What the gateway needs from a wire format, and which one a target speaks.

A :class:`Wire` turns the client's OpenAI chat request (memory already
injected) into the upstream's request, the upstream's answer into a
``chat.completion`` body, and — through a :class:`StreamTranslator` — the
upstream's server-sent events into ``chat.completion.chunk`` objects. There is
one per wire format (OpenAI, Anthropic, Gemini); vendors are data
(:mod:`memoryd.llm.providers`), so every OpenAI-compatible vendor uses the
OpenAI one. :meth:`Wire.lacks` names what of a request a wire would not carry
though it changes the answer (:func:`untranslated`: ``n`` > 1, ``logprobs``, a
JSON schema it cannot enforce...), so that a fallback target is passed over
rather than answer something else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

from memoryd.errors import LLMError
from memoryd.gateway.sse import Event
from memoryd.llm.providers import vendor
from memoryd.llm.types import Target, Usage

__all__ = [
    "StreamError",
    "StreamTranslator",
    "UpstreamCall",
    "Wire",
    "event_json",
    "raise_stream_error",
    "untranslated",
    "wire_for",
]

# What a translating wire carries of a message's content: other parts (audio, files) it drops.
_PARTS = frozenset({"text", "image_url"})
# Request fields no translating wire carries, each of which changes what is answered.
_FIELDS = ("logprobs", "top_logprobs", "logit_bias", "functions", "web_search_options")


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

    def lacks(self, body: dict[str, Any]) -> list[str]:
        """What of ``body`` this wire would not carry though it changes the answer (none: all of it)."""
        ...


def untranslated(body: dict[str, Any], *, json_output: bool, serial_tools: bool) -> list[str]:
    """What of an OpenAI request a translating wire (Anthropic's, Gemini's) does not carry over
    though the answer would differ without it: ``n`` > 1 (one choice comes back), log
    probabilities, ``logit_bias``, legacy ``functions``, web search, output other than text,
    tools other than functions, message parts other than text and images (audio, files), a
    ``response_format`` it cannot enforce (``json_output``: JSON mode and schemas it can), and
    ``parallel_tool_calls: false`` unless it can say so (``serial_tools``). Sampling hints
    (``seed``, penalties) are not listed: an answer without them is still one."""
    lacks: list[str] = []
    n = body.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n > 1:
        lacks.append(f"n={n}")
    lacks += [name for name in _FIELDS if body.get(name)]
    modalities = body.get("modalities")
    if isinstance(modalities, list) and any(m != "text" for m in modalities):
        lacks.append("modalities " + ",".join(str(m) for m in modalities))
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in (None, "text") and not (json_output and kind in ("json_object", "json_schema")):
        lacks.append(f"response_format {kind}")
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        kind = tool.get("type", "function") if isinstance(tool, dict) else None
        if kind != "function" and f"tools of type {kind}" not in lacks:
            lacks.append(f"tools of type {kind}")
    if body.get("parallel_tool_calls") is False and tools and not serial_tools:
        lacks.append("parallel_tool_calls=false")
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else ():
            kind = part.get("type", "text") if isinstance(part, dict) else None
            if kind not in _PARTS and f"{kind} content" not in lacks:
                lacks.append(f"{kind} content")
    return lacks


def event_json(target: Target, event: Event) -> Any:
    """A stream event's JSON data; :class:`LLMError` if it is not JSON (or nested too deeply to read)."""
    try:
        return json.loads(event.data)
    except (ValueError, RecursionError):
        raise LLMError(f"{target.label}: a stream event is not JSON", target=target.label) from None


class StreamError(LLMError):
    """An error event of an upstream's stream; ``error``: its error object (or value) as sent."""

    def __init__(self, message: str, *, target: str, error: Any) -> None:
        super().__init__(message, target=target)
        self.error = error


def raise_stream_error(target: Target, error: Any) -> NoReturn:
    """End the stream with the upstream's own error (an object with ``message``, or any value)."""
    message = error.get("message") if isinstance(error, dict) else str(error)
    raise StreamError(f"{target.label}: stream error: {message}", target=target.label, error=error)


def wire_for(target: Target) -> Wire:
    """The wire format ``target``'s vendor speaks."""
    from memoryd.gateway import wire_anthropic, wire_gemini, wire_openai

    wires: dict[str, Wire] = {
        "openai": wire_openai.WIRE,
        "anthropic": wire_anthropic.WIRE,
        "gemini": wire_gemini.WIRE,
    }
    return wires[vendor(target.provider).wire]
