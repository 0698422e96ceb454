"""OpenAI chat-completion shapes: what every wire format is translated to, and read back from.

Builders for a ``chat.completion`` body, a ``chat.completion.chunk`` and the
usage member; :func:`content_text` reads the text of a message's content (a
string or a list of parts); :class:`Answer` accumulates what a completion or a
stream of chunks said (the first choice's text, finish reason, whether it
called tools, the usage), for write-back and usage accounting.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from memoryd.llm.types import Usage

__all__ = [
    "CUT_SHORT",
    "Answer",
    "add_turn",
    "as_list",
    "chunk",
    "completion",
    "content_text",
    "new_id",
    "stop_list",
    "tool_arguments",
    "unusable",
    "usage_body",
    "usage_chunk",
    "usage_of",
]


# Finish reasons of an answer that stopped before its end (every wire format's, as OpenAI's).
CUT_SHORT = frozenset({"length", "content_filter"})


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty one (for fields a client may send malformed)."""
    return value if isinstance(value, list) else []


def stop_list(value: Any) -> list[str]:
    """OpenAI's ``stop`` (a string or a list of strings) as a list; anything else as none."""
    if isinstance(value, str):
        return [value] if value else []
    return [s for s in as_list(value) if isinstance(s, str) and s]


def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def content_text(content: Any, sep: str = "") -> str:
    """The text of a message's ``content``: a string, or the text of its ``text`` parts joined by
    ``sep``. A wire translation joins them as they are (``""``: a text the client split in parts,
    a tool's JSON say, is whole again); memory joins them with ``"\n"``, so that the parts around
    an image (``"What is my dog"``, ``"called?"``) are not glued into one word."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return sep.join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type", "text") == "text"
        )
    return ""


def unusable(body: dict[str, Any], key: str) -> str | None:
    """Why an upstream's ``chat.completion`` (``key``: ``"message"``) or ``chat.completion.chunk``
    (``"delta"``) is no answer a client could read, if it is not: ``choices`` not a list, a
    choice not an object, its ``index`` no number, its ``finish_reason`` no string, its message
    (a chunk's delta may be absent) no object, or that message's ``content`` or ``tool_calls`` of
    the wrong type. What is merely unusual (a finish reason never heard of) is no fault."""
    choices = body.get("choices")
    if choices is None and key == "delta":
        return None  # a usage chunk, say
    if not isinstance(choices, list):
        return "choices is not a list"
    for i, choice in enumerate(choices):
        at = f"choices[{i}]"
        if not isinstance(choice, dict):
            return f"{at} is not an object"
        index, reason, message = choice.get("index", 0), choice.get("finish_reason"), choice.get(key)
        if not isinstance(index, int) or isinstance(index, bool):
            return f"{at}.index is not a number"
        if reason is not None and not isinstance(reason, str):
            return f"{at}.finish_reason is not a string"
        if message is None and key == "delta":
            continue
        if not isinstance(message, dict):
            return f"{at}.{key} is not an object"
        if not isinstance(message.get("content"), (str, list, type(None))):
            return f"{at}.{key}.content is not a string or a list"
        if not isinstance(message.get("tool_calls"), (list, type(None))):
            return f"{at}.{key}.tool_calls is not a list"
    return None


def usage_body(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def usage_of(body: Any) -> Usage | None:
    """The :class:`Usage` of an OpenAI ``usage`` member (``None`` when absent or malformed)."""
    if not isinstance(body, dict):
        return None
    try:
        return Usage(int(body.get("prompt_tokens") or 0), int(body.get("completion_tokens") or 0))
    except (TypeError, ValueError):
        return None


def completion(
    id: str, model: str, message: dict[str, Any], finish_reason: str | None, usage: Usage | None
) -> dict[str, Any]:
    """A ``chat.completion`` body with one choice."""
    body: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = usage_body(usage)
    return body


def chunk(
    id: str, model: str, created: int, delta: dict[str, Any], finish_reason: str | None = None
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` with one choice."""
    return {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def usage_chunk(id: str, model: str, created: int, usage: Usage) -> dict[str, Any]:
    """The last chunk of a stream that asked for ``stream_options.include_usage``."""
    return {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage_body(usage),
    }


@dataclass
class Answer:
    """What the model answered (first choice), built from a completion or from chunks."""

    parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    tool_calls: bool = False
    usage: Usage | None = None
    model: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def complete_turn(self) -> bool:
        """An answer in words that ended normally (not a tool call, not cut off by an error, the
        token limit or a content filter)."""
        return self.turn_ended and not self.cut and bool(self.text.strip())

    @property
    def turn_ended(self) -> bool:
        """The exchange is over: the model did not call a tool (a tool loop's last answer is)."""
        return not self.tool_calls and self.finish_reason != "tool_calls"

    @property
    def cut(self) -> bool:
        """The answer stopped before its end: at the token limit, or by a content filter."""
        return self.finish_reason in CUT_SHORT

    def add_completion(self, body: dict[str, Any]) -> None:
        self.model = str(body.get("model") or self.model or "")
        self.usage = usage_of(body.get("usage")) or self.usage
        choices = body.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message") or {}
            if isinstance(message, dict):
                self.parts.append(content_text(message.get("content")))
                self.tool_calls = self.tool_calls or bool(message.get("tool_calls"))
            self.finish_reason = choices[0].get("finish_reason")

    def add_chunk(self, body: dict[str, Any]) -> None:
        if body.get("model"):
            self.model = str(body["model"])
        usage = usage_of(body.get("usage"))
        if usage is not None:
            self.usage = usage
        for choice in body.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta, dict):
                text = delta.get("content")
                if isinstance(text, str):
                    self.parts.append(text)
                self.tool_calls = self.tool_calls or bool(delta.get("tool_calls"))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]


def tool_arguments(text: Any) -> Any:
    """An OpenAI tool call's ``arguments`` (a JSON string) as an object for vendors that want one:
    ``{}`` when empty, ``{"arguments": text}`` when it is not JSON (or nested deeper than it can be
    read: the client's text, not the server's failure)."""
    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return {"arguments": text}


def add_turn(turns: list[dict[str, Any]], role: str, key: str, items: list[Any]) -> None:
    """Append one turn's ``items`` (blocks, parts) under ``key``, merged into the previous turn when
    it has the same role: Anthropic and Gemini want roles to alternate."""
    if not items:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(items)
    else:
        turns.append({"role": role, key: items})
