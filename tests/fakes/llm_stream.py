"""Streamed answers of the scripted LLM vendor: OpenAI, Anthropic and Gemini server-sent events.

:func:`stream_events` renders one scripted reply as the events the vendor's
streaming API sends, as the chunks of bytes the fake writes one by one:

- OpenAI (``stream: true``): ``data: {chat.completion.chunk}`` events — the role,
  one per piece of text (or one per tool call), the finish reason, the usage
  chunk when ``stream_options.include_usage`` asks for it, then ``data: [DONE]``;
- Anthropic (``stream: true``): ``message_start``, ``content_block_start``/
  ``_delta``/``_stop`` per block (text, then ``tool_use`` blocks with their input
  in two ``input_json_delta`` halves), ``message_delta`` (stop reason, usage),
  ``message_stop``;
- Gemini (``:streamGenerateContent?alt=sse``): one ``GenerateContentResponse`` per
  piece, the last with ``finishReason`` and every one with ``usageMetadata``.

The text is cut into pieces of whole words. ``stream_error_after=n`` sends the
vendor's error event after n pieces (OpenAI's ``{"error": …}``, Anthropic's
``event: error``, Gemini's ``{"error": …}``) and ends; ``stream_cut_after=n``
just stops after n pieces, with no terminator, as a dropped connection would.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Protocol

__all__ = ["StreamReply", "pieces", "stream_events", "tool_args"]


class StreamReply(Protocol):
    text: str | None
    tool_calls: list[dict[str, Any]] | None
    usage: tuple[int, int]
    finish_reason: str
    message: str
    stream_error_after: int | None
    stream_cut_after: int | None


def pieces(text: str) -> list[str]:
    """``text`` cut after each word (with its trailing spaces): joined, they give ``text`` back."""
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


def tool_args(call: dict[str, Any]) -> str:
    args = call.get("arguments", {})
    return args if isinstance(args, str) else json.dumps(args)


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _cut(reply: StreamReply, texts: list[str]) -> tuple[list[str], bool, bool]:
    """The pieces to send, and whether to end with an error event / with nothing."""
    if reply.stream_error_after is not None:
        return texts[: reply.stream_error_after], True, False
    if reply.stream_cut_after is not None:
        return texts[: reply.stream_cut_after], False, True
    return texts, False, False


def _openai(reply: StreamReply, payload: dict[str, Any], model: str) -> list[bytes]:
    created = int(time.time())
    prompt, completion = reply.usage

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        body = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": model}
        return _sse({**body, "choices": [choice]})

    texts, error, cut = _cut(reply, pieces(reply.text or ""))
    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": t}) for t in texts]
    if error:
        return [*out, _sse({"error": {"message": reply.message, "type": "server_error", "code": None}})]
    if cut:
        return out
    calls = reply.tool_calls or []
    for i, call in enumerate(calls):
        head = {
            "index": i,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["name"], "arguments": ""},
        }
        out.append(chunk({"tool_calls": [head]}))
        out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": tool_args(call)}}]}))
    out.append(chunk({}, "tool_calls" if calls else reply.finish_reason))
    options = payload.get("stream_options") or {}
    if options.get("include_usage"):
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        body = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": model}
        out.append(_sse({**body, "choices": [], "usage": usage}))
    return [*out, b"data: [DONE]\n\n"]


def _anthropic(reply: StreamReply, payload: dict[str, Any], model: str) -> list[bytes]:
    prompt, completion = reply.usage
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "usage": {"input_tokens": prompt, "output_tokens": 1},
        },
    }  # fmt: skip
    out = [_sse(start, "message_start"), _sse({"type": "ping"}, "ping")]
    texts, error, cut = _cut(reply, pieces(reply.text or ""))
    index = 0
    if texts or not reply.tool_calls:
        out.append(
            _sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            )
        )
        for t in texts:
            delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}
            out.append(_sse(delta, "content_block_delta"))
        if error:
            return [
                *out,
                _sse(
                    {"type": "error", "error": {"type": "overloaded_error", "message": reply.message}},
                    "error",
                ),
            ]
        if cut:
            return out
        out.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        index = 1
    for call in reply.tool_calls or []:
        block = {"type": "tool_use", "id": call["id"], "name": call["name"], "input": {}}
        out.append(
            _sse(
                {"type": "content_block_start", "index": index, "content_block": block}, "content_block_start"
            )
        )
        args = tool_args(call)
        for half in (args[: len(args) // 2], args[len(args) // 2 :]):
            delta = {"type": "input_json_delta", "partial_json": half}
            out.append(
                _sse({"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta")
            )
        out.append(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        index += 1
    stop = (
        "tool_use"
        if reply.tool_calls
        else ("end_turn" if reply.finish_reason == "stop" else reply.finish_reason)
    )
    out.append(
        _sse(
            {"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": completion}},
            "message_delta",
        )
    )
    return [*out, _sse({"type": "message_stop"}, "message_stop")]


def _gemini(reply: StreamReply, payload: dict[str, Any], model: str) -> list[bytes]:
    prompt, completion = reply.usage
    usage = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion,
        "totalTokenCount": prompt + completion,
    }
    texts, error, cut = _cut(reply, pieces(reply.text or ""))

    def response(parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        return _sse({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model})

    out = [response([{"text": t}]) for t in texts]
    if error:
        return [*out, _sse({"error": {"code": 503, "message": reply.message, "status": "UNAVAILABLE"}})]
    if cut:
        return out
    calls = [
        {"functionCall": {"name": c["name"], "args": json.loads(tool_args(c))}}
        for c in reply.tool_calls or []
    ]
    finish = "STOP" if reply.finish_reason == "stop" else reply.finish_reason.upper()
    if calls or not out:
        return [*out, response(calls or [{"text": ""}], finish)]
    last = texts[-1]
    return [*out[:-1], response([{"text": last}], finish)]


def stream_events(kind: str, reply: StreamReply, payload: Any, model: str) -> list[bytes]:
    """The events of ``reply`` for a ``kind`` ("openai", "anthropic", "gemini") stream."""
    body = payload if isinstance(payload, dict) else {}
    render = {"openai": _openai, "anthropic": _anthropic, "gemini": _gemini}[kind]
    return render(reply, body, model)
