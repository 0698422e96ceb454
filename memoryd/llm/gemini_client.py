"""The Google Gemini wire format (``POST {base}/models/{model}:generateContent``).

Messages become ``contents`` of ``parts`` with roles ``user`` and ``model``,
the first the user's (a conversation the assistant opens is sent after a user
turn saying so, as to Anthropic: :func:`~memoryd.llm.anthropic_client.merge_turns`);
system messages go to ``systemInstruction``; JSON answers are requested with
``generationConfig.responseMimeType = application/json``; a model without that
JSON mode (Gemma on the Gemini API: "JSON mode is not enabled for models/...")
is asked again without it, as the remembered way for that target, the JSON
then asked for in the prompt alone. The key travels in the ``x-goog-api-key``
header, never in the URL (so it cannot leak into logs).

Thinking models (Gemini 2.5 and later) bill their thoughts against
``maxOutputTokens``: a thought-out question can spend the whole limit and end
``MAX_TOKENS`` with its answer empty or cut. Such a reply is asked again once
with the thoughts' tokens added to the limit (no ``thinkingConfig`` is sent: the
model's own default stays). Thought tokens count as completion tokens in the
usage, as they are billed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from memoryd.errors import LLMError
from memoryd.llm.anthropic_client import merge_turns
from memoryd.llm.http import api_url, post_json, refuses_json_mode, reply_parser
from memoryd.llm.types import ChatRequest, Completion, Target, Usage, token_count

if TYPE_CHECKING:
    from memoryd.llm.transport import HTTPClient

__all__ = ["GeminiChat", "build_request", "endpoint", "parse_response"]


def endpoint(target: Target, method: str = "generateContent") -> tuple[str, dict[str, str]]:
    """``(url, headers)`` of one of the target model's methods (shared with the chat gateway)."""
    model = target.model.removeprefix("models/")
    url = api_url(target.base_url, f"/models/{model}:{method}")
    return url, ({"x-goog-api-key": target.api_key} if target.api_key else {})


def build_request(
    target: Target, request: ChatRequest, json_mode: bool = True, thinking_room: int = 0
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``(url, headers, body)`` for one generateContent call (``json_mode=False``: a JSON answer
    asked for without ``responseMimeType``; ``thinking_room``: tokens added to the limit for the
    model's thoughts)."""
    url, headers = endpoint(target)
    system, turns = merge_turns(list(request.messages), assistant="model")
    config: dict[str, Any] = {
        "temperature": target.temperature if request.temperature is None else request.temperature,
        "maxOutputTokens": (request.max_tokens or target.max_tokens) + thinking_room,
    }
    if request.json and json_mode:
        config["responseMimeType"] = "application/json"
    body: dict[str, Any] = {
        "contents": [{"role": t["role"], "parts": [{"text": t["content"]}]} for t in turns],
        "generationConfig": config,
    }
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    return url, headers, body


@reply_parser
def parse_response(target: Target, data: dict[str, Any]) -> Completion:
    """A :class:`Completion` from a generateContent reply body."""
    candidates = data.get("candidates")
    tokens = Usage.reported(data.get("usageMetadata"), "promptTokenCount", "candidatesTokenCount")
    tokens += Usage(0, _thoughts(data))  # billed as output
    model = str(data.get("modelVersion") or target.model)
    if not candidates:
        blocked = (data.get("promptFeedback") or {}).get("blockReason")
        if blocked:  # an answer, just an empty one
            return Completion("", model, target.label, tokens, f"blocked: {blocked}")
        raise LLMError(f"{target.label}: the reply has no candidates", target=target.label)
    first = candidates[0] if isinstance(candidates[0], dict) else {}
    parts = (first.get("content") or {}).get("parts") or []
    text = "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict) and not p.get("thought"))
    return Completion(text, model, target.label, tokens, first.get("finishReason"))


class GeminiChat:
    """Gemini generateContent over the router's shared :class:`HTTPClient`."""

    def __init__(self) -> None:
        self._plain: set[str] = set()  # target labels whose model refused responseMimeType

    async def complete(self, http: HTTPClient, target: Target, request: ChatRequest) -> Completion:
        json_mode = target.label not in self._plain
        room, spent = 0, Usage()  # thinking room added after a reply its thoughts cut (module doc)
        while True:
            url, headers, body = build_request(target, request, json_mode, room)
            try:
                data = await post_json(http, target, url, headers, body)
            except LLMError as exc:
                if not (request.json and json_mode and refuses_json_mode(target, exc)):
                    raise
                json_mode = False
                continue
            if request.json and not json_mode:
                self._plain.add(target.label)
            completion = parse_response(target, data)
            thoughts = _thoughts(data)
            if completion.finish_reason == "MAX_TOKENS" and thoughts and not room:
                room, spent = thoughts, completion.usage
                continue
            return replace(completion, usage=spent + completion.usage)


def _thoughts(data: dict[str, Any]) -> int:
    """The tokens a reply's thinking took (``usageMetadata.thoughtsTokenCount``), 0 if none said."""
    meta = data.get("usageMetadata")
    return token_count(meta.get("thoughtsTokenCount")) if isinstance(meta, dict) else 0
