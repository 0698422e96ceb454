"""The Anthropic Messages wire format (``POST {base}/messages``).

System messages travel apart in ``system``; consecutive messages of the same
role are merged (the API wants user and assistant to alternate); the key goes
in ``x-api-key`` and the API version in ``anthropic-version``. There is no JSON
mode: the structured-output layer asks for JSON in the prompt and repairs.

The API wants the first turn to be the user's (a conversation opening with the
assistant, the greeting an app shows first, is refused with a 400 "first message
must use the user role"; Gemini's ``contents`` too): such a conversation is sent
with a user turn before it, :data:`OPENING`, saying that the assistant's message
that follows opens the conversation, and the assistant's words stay its own
turn (not moved into the system prompt, nor put in the user's mouth). The chat
gateway does the same for OpenAI clients (:func:`user_first`). A conversation of
system messages alone, which OpenAI's API answers, is sent with one user turn,
:data:`UNSAID`, asking for what the instructions call for.

``stop_reason: "refusal"`` (Anthropic's classifiers stopped the answer) is the
completion's :attr:`~memoryd.llm.types.Completion.refusal`, as OpenAI's
``message.refusal`` is: the explanation of ``stop_details`` (or, without one,
:data:`DECLINED`), the text cut short left out (Anthropic: not to be used).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from memoryd.errors import LLMError
from memoryd.llm.http import api_url, post_json, reply_parser
from memoryd.llm.providers import vendor
from memoryd.llm.types import ChatRequest, Completion, Message, Target, Usage

if TYPE_CHECKING:
    from memoryd.llm.transport import HTTPClient

__all__ = [
    "DECLINED",
    "OPENING",
    "UNSAID",
    "AnthropicChat",
    "build_request",
    "endpoint",
    "merge_turns",
    "parse_response",
    "refusal",
    "user_first",
]

# The user turn sent before a conversation the assistant opened (Anthropic and Gemini want the user first).
OPENING = "(The conversation opens with the assistant's message that follows.)"
# The user turn sent when a conversation holds system messages only (both APIs want one turn at least).
UNSAID = "(No message has been sent yet: answer as the instructions above ask.)"
# A refusal's words when Anthropic gives none (``stop_reason: "refusal"`` without ``stop_details``).
DECLINED = "The model declined to answer; it gave no reason."

_Turn = TypeVar("_Turn", bound=dict[str, Any])


def user_first(turns: list[_Turn], said: Callable[[str], _Turn]) -> list[_Turn]:
    """``turns`` beginning with the user's: a user turn of :data:`OPENING` (``said`` shapes it for the
    wire) before a first turn of the assistant's, or one of :data:`UNSAID` when there is no turn at all
    (a conversation of system messages alone, which OpenAI's API answers)."""
    if not turns:
        return [said(UNSAID)]
    return [said(OPENING), *turns] if turns[0]["role"] != "user" else turns


def refusal(stop_reason: Any, details: Any) -> str | None:
    """What the model said in refusing, if ``stop_reason`` is Anthropic's ``"refusal"``: the
    ``stop_details`` explanation, else :data:`DECLINED`; ``None`` for any other stop."""
    if stop_reason != "refusal":
        return None
    said = details.get("explanation") if isinstance(details, dict) else None
    return said.strip() if isinstance(said, str) and said.strip() else DECLINED


def merge_turns(messages: list[Message], assistant: str = "assistant") -> tuple[str, list[dict[str, str]]]:
    """``(system text, alternating turns)``: system messages joined, same-role neighbours merged,
    the user's turn first (:data:`OPENING` before the assistant's opening message)."""
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
    return system, user_first(turns, lambda text: {"role": "user", "content": text})


def endpoint(target: Target) -> tuple[str, dict[str, str]]:
    """``(url, headers)`` of the target's Messages API (shared with the chat gateway)."""
    record = vendor(target.provider)
    url = api_url(target.base_url, "/messages", "/messages")
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
    refused = refusal(data.get("stop_reason"), data.get("stop_details"))
    return Completion(
        text="" if refused else text,
        model=str(data.get("model") or target.model),
        target=target.label,
        usage=Usage.reported(data.get("usage"), "input_tokens", "output_tokens"),
        finish_reason=data.get("stop_reason"),
        refusal=refused,
    )


class AnthropicChat:
    """Anthropic Messages over the router's shared :class:`HTTPClient`."""

    async def complete(self, http: HTTPClient, target: Target, request: ChatRequest) -> Completion:
        url, headers, body = build_request(target, request)
        return parse_response(target, await post_json(http, target, url, headers, body))
