"""The Anthropic Messages wire format (``POST {base}/messages``).

System messages travel apart in ``system``; consecutive messages of the same
role are merged (the API wants user and assistant to alternate); the key goes
in ``x-api-key`` and the API version in ``anthropic-version``. There is no JSON
mode: the structured-output layer asks for JSON in the prompt and repairs.
"""

from __future__ import annotations

from typing import Any

from memoryd.errors import LLMError
from memoryd.llm.http import post_json, reply_parser
from memoryd.llm.providers import vendor
from memoryd.llm.transport import HTTPClient
from memoryd.llm.types import ChatRequest, Completion, Message, Target, Usage

__all__ = ["AnthropicChat", "build_request", "endpoint", "merge_turns", "parse_response"]


def merge_turns(messages: list[Message], assistant: str = "assistant") -> tuple[str, list[dict[str, str]]]:
    """``(system text, alternating turns)``: system messages joined, same-role neighbours merged."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns: list[dict[str, str]] = []
    for m in messages:
        if m["role"] == "system":
            continue
        role = assistant if m["role"] == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n\n" + m["content"]
        else:
            turns.append({"role": role, "content": m["content"]})
    return system, turns


def endpoint(target: Target) -> tuple[str, dict[str, str]]:
    """``(url, headers)`` of the target's Messages API (shared with the chat gateway)."""
    record = vendor(target.provider)
    base = target.base_url.rstrip("/")
    url = base if base.endswith("/messages") else f"{base}/messages"
    headers = {"anthropic-version": target.api_version or record.default_api_version or "2023-06-01"}
    if target.api_key:
        headers["x-api-key"] = target.api_key
    return url, headers


def build_request(target: Target, request: ChatRequest) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``(url, headers, body)`` for one Messages call."""
    url, headers = endpoint(target)
    system, turns = merge_turns(list(request.messages))
    body: dict[str, Any] = {
        "model": target.model,
        "max_tokens": request.max_tokens or target.max_tokens,
        "messages": turns,
        "temperature": target.temperature if request.temperature is None else request.temperature,
    }
    if system:
        body["system"] = system
    return url, headers, body


@reply_parser
def parse_response(target: Target, data: dict[str, Any]) -> Completion:
    """A :class:`Completion` from a Messages reply body."""
    content = data.get("content")
    if not isinstance(content, list):
        raise LLMError(f"{target.label}: the reply has no content", target=target.label)
    text = "".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return Completion(
        text=text,
        model=str(data.get("model") or target.model),
        target=target.label,
        usage=Usage.reported(data.get("usage"), "input_tokens", "output_tokens"),
        finish_reason=data.get("stop_reason"),
    )


class AnthropicChat:
    """Anthropic Messages over the router's shared :class:`HTTPClient`."""

    async def complete(self, http: HTTPClient, target: Target, request: ChatRequest) -> Completion:
        url, headers, body = build_request(target, request)
        return parse_response(target, await post_json(http, target, url, headers, body))
