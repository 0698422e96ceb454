"""The gateway's OpenAI wire: the client's request goes upstream as it came.

Every field the client sent is forwarded unchanged (``tools``,
``response_format``, ``temperature``, ``seed``, fields this module has never
heard of), except ``model`` — the routed target's (Azure names it in the URL
instead) —, a ``safety_identifier`` longer than OpenAI's 64 characters (sent as its
SHA-256: :func:`~memoryd.gateway.identity.safety_identifier`) and, in a stream,
``stream_options.include_usage``, which the gateway asks for to count tokens and
hides again when the client did not.
Answers and chunks come back untouched; one no client could read (a choice, message or delta
that is no object, a ``finish_reason`` that is no string: :func:`~memoryd.gateway.shapes.unusable`)
is an :class:`~memoryd.errors.LLMOutputError` of its target, which the router falls back from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memoryd.errors import LLMError, LLMOutputError
from memoryd.gateway.identity import safety_identifier
from memoryd.gateway.shapes import unusable
from memoryd.gateway.sse import Event
from memoryd.gateway.wire import UpstreamCall, event_json, raise_stream_error
from memoryd.llm.openai_client import auth_headers, endpoint
from memoryd.llm.providers import vendor
from memoryd.llm.types import Target, Usage

__all__ = ["WIRE", "OpenAIStream", "OpenAIWire", "choices_asked", "client_wants_usage"]


def client_wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def choices_asked(body: dict[str, Any]) -> int:
    """How many choices the client asked for (``n``; 1 when absent or not a count)."""
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1


@dataclass
class OpenAIStream:
    """Passes chunks through; notes ``[DONE]``, the finish reasons and the usage.

    The answer is complete at ``[DONE]``, or once each of the ``choices`` asked for (``n``) has
    its finish reason: with ``n`` > 1 the first choice to finish does not make a stream cut
    off before the others finish a complete one."""

    target: Target
    hide_usage: bool
    choices: int = 1
    done: bool = False
    ended: bool = False
    usage: Usage | None = None
    _finished: set[Any] = field(default_factory=set)  # indexes of the choices that finished

    def feed(self, event: Event) -> list[dict[str, Any]]:
        if event.data.strip() == "[DONE]":
            self.done = self.ended = True
            return []
        data = event_json(self.target, event)
        if not isinstance(data, dict):
            raise LLMError(f"{self.target.label}: a stream event is not an object", target=self.target.label)
        if data.get("error"):
            raise_stream_error(self.target, data["error"])
        fault = unusable(data, "delta")  # before the bookkeeping: no finish reason of an unusable chunk
        if fault is not None:
            label = self.target.label
            raise LLMOutputError(f"{label}: an unusable stream chunk ({fault})", target=label)
        usage = data.get("usage")
        if isinstance(usage, dict):
            self.usage = Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        choices = data.get("choices")
        for c in choices if isinstance(choices, list) else ():
            if isinstance(c, dict) and c.get("finish_reason"):
                self._finished.add(c.get("index", 0))
        if len(self._finished) >= self.choices:
            self.done = True
        if self.hide_usage and usage is not None:  # the gateway asked for usage, not the client
            if not choices:
                return []  # the usage chunk
            data = {k: v for k, v in data.items() if k != "usage"}  # usage on a chunk with choices
        return [data]

    def finish(self) -> list[dict[str, Any]]:
        return []


class OpenAIWire:
    """OpenAI chat completions (and every compatible server)."""

    def request(self, target: Target, body: dict[str, Any], *, stream: bool, usage: bool) -> UpstreamCall:
        record = vendor(target.provider)
        url, params = endpoint(target, record)
        out = dict(body)
        if "safety_identifier" in out:
            out["safety_identifier"] = safety_identifier(out["safety_identifier"])
        if record.auth == "api-key":  # Azure: the deployment is in the URL
            out.pop("model", None)
        else:
            out["model"] = target.model
        if stream and usage and not client_wants_usage(body):
            options = body.get("stream_options")
            out["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        return UpstreamCall(url, auth_headers(target, record), out, params)

    def completion(self, target: Target, data: Any) -> dict[str, Any]:
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices:
            raise LLMError(f"{target.label}: the reply has no choices", target=target.label)
        fault = unusable(data, "message")
        if fault is not None:
            raise LLMOutputError(f"{target.label}: an unusable reply ({fault})", target=target.label)
        return dict(data)

    def translator(self, target: Target, body: dict[str, Any], *, usage: bool) -> OpenAIStream:
        return OpenAIStream(
            target, hide_usage=usage and not client_wants_usage(body), choices=choices_asked(body)
        )

    def lacks(self, body: dict[str, Any]) -> list[str]:
        return []  # everything is forwarded: what the upstream cannot do, it refuses (a 400)


WIRE = OpenAIWire()
