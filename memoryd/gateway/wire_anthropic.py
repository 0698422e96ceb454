"""The gateway's Anthropic wire: OpenAI chat requests as Messages API calls, and back.

Request: system (and developer) messages go to ``system``; tool results
become ``tool_result`` blocks of a user turn and an assistant's
``tool_calls`` become ``tool_use`` blocks; same-role neighbours merge (the API
wants turns to alternate); ``tools``/``tool_choice``, ``temperature``,
``top_p``, ``stop``, ``max_tokens`` (required there: the target's default when
the client gives none) and the end user (``user``, else ``safety_identifier``, else
``metadata.user_id``: as ``metadata.user_id``) are translated. A conversation the
assistant opens (an app's greeting before the user's first message) is sent after
a user turn saying so (:data:`~memoryd.llm.anthropic_client.OPENING`): the API
refuses a first turn that is not the user's (and a request of system messages
alone gets one user turn: :data:`~memoryd.llm.anthropic_client.UNSAID`).
Fields with no Anthropic equivalent (``response_format``, ``n``, ``seed``,
penalties, ``logprobs``, whitespace-only stop sequences) are not sent; those
that change the answer are what :meth:`AnthropicWire.lacks` names
(:func:`~memoryd.gateway.wire.untranslated`: a JSON mode or schema too, which
Anthropic cannot enforce).

Answers: text blocks become the content, ``tool_use`` blocks ``tool_calls``;
the stream's events (``message_start``, ``content_block_*``,
``message_delta``, ``message_stop``, ``error``) become chunks. A
``stop_reason: "refusal"`` (Anthropic's classifiers stopped the answer) is
OpenAI's refusal: ``message.refusal`` (a stream's last ``delta.refusal``) says
it, ``stop_details.explanation`` or
:data:`~memoryd.llm.anthropic_client.DECLINED`, with ``finish_reason``
``content_filter`` (what OpenAI says of an answer its filters stopped); the
content is null, the text cut short left out (a stream's has gone out already).
The gateway stores no refused answer in memory.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from memoryd.errors import LLMError
from memoryd.gateway.identity import end_user
from memoryd.gateway.shapes import (
    add_turn,
    as_list,
    chunk,
    completion,
    content_text,
    new_id,
    stop_list,
    tool_arguments,
    usage_chunk,
)
from memoryd.gateway.sse import Event
from memoryd.gateway.wire import UpstreamCall, event_json, raise_stream_error, untranslated
from memoryd.gateway.wire_openai import client_wants_usage
from memoryd.llm.anthropic_client import endpoint, refusal, user_first
from memoryd.llm.types import Target, Usage

__all__ = ["WIRE", "AnthropicStream", "AnthropicWire", "finish_reason", "translate_messages"]

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: Any) -> str | None:
    return None if stop_reason is None else _FINISH.get(str(stop_reason), "stop")


def _image(part: dict[str, Any]) -> dict[str, Any] | None:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        return None
    if url.startswith("data:") and ";base64," in url:
        media, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        text = content_text(content)
        return [{"type": "text", "text": text}] if text else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type", "text") == "text" and part.get("text"):
            blocks.append({"type": "text", "text": str(part["text"])})
        elif part.get("type") == "image_url":
            image = _image(part)
            if image is not None:
                blocks.append(image)
    return blocks


def translate_messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """``(system text, turns)`` for the Messages API."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        if role in ("system", "developer"):
            text = content_text(m.get("content"))
            if text:
                system.append(text)
            continue
        if role == "tool":
            text = content_text(m.get("content"))
            blocks: list[dict[str, Any]] = [
                {"type": "tool_result", "tool_use_id": str(m.get("tool_call_id") or ""), "content": text}
            ]
            role = "user"
        elif role == "assistant":
            text = content_text(m.get("content"))
            blocks = [{"type": "text", "text": text}] if text else []
            for call in as_list(m.get("tool_calls")):
                if not isinstance(call, dict):
                    continue
                found = call.get("function")
                function: dict[str, Any] = found if isinstance(found, dict) else {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": str(call.get("id") or ""),
                        "name": str(function.get("name") or ""),
                        "input": tool_arguments(function.get("arguments")),
                    }
                )
        else:
            role = "user"
            blocks = _user_blocks(m.get("content"))
        add_turn(turns, role, "content", blocks)
    return "\n\n".join(system), user_first(
        turns, lambda text: {"role": "user", "content": [{"type": "text", "text": text}]}
    )


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    out: dict[str, Any] | None
    if choice == "auto":
        out = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        out = {"type": "none"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        out = {"type": "tool", "name": str(choice["function"].get("name") or "")}
    else:
        out = None
    if parallel is False:
        out = {**(out or {"type": "auto"}), "disable_parallel_tool_use": True}
    return out


def _tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for tool in tools if isinstance(tools, list) else ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict):
            continue
        spec: dict[str, Any] = {
            "name": str(function.get("name") or ""),
            "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
        }
        if function.get("description"):
            spec["description"] = str(function["description"])
        out.append(spec)
    return out


def _message(data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    text = "".join(
        str(b.get("text", "")) for b in data["content"] if isinstance(b, dict) and b.get("type") == "text"
    )
    calls = [
        {
            "id": str(b.get("id") or ""),
            "type": "function",
            "function": {"name": str(b.get("name") or ""), "arguments": json.dumps(b.get("input") or {})},
        }
        for b in data["content"]
        if isinstance(b, dict) and b.get("type") == "tool_use"
    ]
    refused = refusal(data.get("stop_reason"), data.get("stop_details"))
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if refused else text or (None if calls else ""),
        "refusal": refused,
    }
    if calls:
        message["tool_calls"] = calls
    return message, bool(calls)


def _usage(usage: Any) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    prompt = sum(
        int(usage.get(k) or 0)
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return Usage(prompt, int(usage.get("output_tokens") or 0))


@dataclass
class AnthropicStream:
    """Messages API stream events → chat completion chunks."""

    target: Target
    include_usage: bool
    id: str = field(default_factory=new_id)
    model: str = ""
    created: int = field(default_factory=lambda: int(time.time()))
    done: bool = False
    ended: bool = False
    usage: Usage | None = None
    _prompt: int = 0
    _tools: dict[int, int] = field(default_factory=dict)  # content block index -> tool call index

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return chunk(self.id, self.model or self.target.model, self.created, delta, finish)

    def feed(self, event: Event) -> list[dict[str, Any]]:
        data = event_json(self.target, event)
        kind = event.event or (data.get("type") if isinstance(data, dict) else "")
        if not isinstance(data, dict):
            return []
        if kind == "error":
            raise_stream_error(self.target, data.get("error") or {})
        if kind == "message_start":
            message = data.get("message") or {}
            self.model = str(message.get("model") or self.target.model)
            # Counted from here: a stream that breaks (or is left) before message_delta still
            # used (and is billed for) its prompt.
            self.usage = _usage(message.get("usage"))
            self._prompt = self.usage.prompt_tokens if self.usage else 0
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = self._tools[int(data.get("index") or 0)] = len(self._tools)
                call = {
                    "index": index,
                    "id": str(block.get("id") or ""),
                    "type": "function",
                    "function": {"name": str(block.get("name") or ""), "arguments": ""},
                }
                return [self._chunk({"tool_calls": [call]})]
            if block.get("type") == "text" and block.get("text"):
                return [self._chunk({"content": str(block["text"])})]
            return []
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta":
                return [self._chunk({"content": str(delta.get("text") or "")})]
            if delta.get("type") == "input_json_delta":
                index = self._tools.get(int(data.get("index") or 0), 0)
                part = {"index": index, "function": {"arguments": str(delta.get("partial_json") or "")}}
                return [self._chunk({"tool_calls": [part]})]
            return []
        if kind == "message_delta":
            delta = data.get("delta") or {}
            counts = data.get("usage") or {}
            self.usage = Usage(self._prompt, int(counts.get("output_tokens") or 0))
            reason = finish_reason(delta.get("stop_reason"))
            refused = refusal(delta.get("stop_reason"), delta.get("stop_details"))
            return [self._chunk({"refusal": refused} if refused else {}, reason)] if reason else []
        if kind == "message_stop":
            self.done = self.ended = True
        return []

    def finish(self) -> list[dict[str, Any]]:
        if self.include_usage and self.usage is not None:
            return [usage_chunk(self.id, self.model or self.target.model, self.created, self.usage)]
        return []


class AnthropicWire:
    """Anthropic's Messages API."""

    def request(self, target: Target, body: dict[str, Any], *, stream: bool, usage: bool) -> UpstreamCall:
        url, headers = endpoint(target)
        system, turns = translate_messages(as_list(body.get("messages")))
        out: dict[str, Any] = {
            "model": target.model,
            "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or target.max_tokens,
            "messages": turns,
        }
        if system:
            out["system"] = system
        for name in ("temperature", "top_p", "top_k"):
            if body.get(name) is not None:
                out[name] = body[name]
        # Anthropic refuses a whitespace-only stop sequence (400), OpenAI's "\n" say: it has none.
        stop = [s for s in stop_list(body.get("stop")) if s.strip()]
        if stop:
            out["stop_sequences"] = stop
        tools = _tools(body.get("tools"))
        if tools:
            out["tools"] = tools
            choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
            if choice is not None:
                out["tool_choice"] = choice
        user = end_user(body)
        if user is not None:
            out["metadata"] = {"user_id": user}
        if stream:
            out["stream"] = True
        return UpstreamCall(url, headers, out)

    def completion(self, target: Target, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise LLMError(f"{target.label}: the reply has no content", target=target.label)
        message, _ = _message(data)
        upstream_id = data.get("id")
        return completion(
            f"chatcmpl-{upstream_id}" if upstream_id else new_id(),
            str(data.get("model") or target.model),
            message,
            finish_reason(data.get("stop_reason")) or "stop",
            _usage(data.get("usage")),
        )

    def translator(self, target: Target, body: dict[str, Any], *, usage: bool) -> AnthropicStream:
        return AnthropicStream(target, include_usage=client_wants_usage(body))

    def lacks(self, body: dict[str, Any]) -> list[str]:
        return untranslated(body, json_output=False, serial_tools=True)


WIRE = AnthropicWire()
