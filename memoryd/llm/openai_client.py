"""The OpenAI chat-completions wire format, used by every OpenAI-compatible vendor.

OpenAI, Azure OpenAI, DeepSeek, OpenRouter, Ollama, vLLM, LM Studio,
DashScope, Moonshot and custom servers all go through this one client; what
differs between them is data in their :class:`~memoryd.llm.providers.Vendor`
record (URL scheme, auth header, JSON mode, the max-tokens field name).

JSON answers use the best mode the vendor has (``json_schema``, else
``json_object``). A server that refuses a ``response_format`` (a 400 whose
message names it, ``json_schema`` or ``json_object``) is asked again once per
lower mode, and the mode that works is remembered, so unknown servers still
work. So are OpenAI's reasoning models (o-series, gpt-5), wherever they are
served: a 400 saying they take no ``temperature`` but the default, or want
``max_completion_tokens`` for ``max_tokens``, is asked again without it, and
that too is remembered once it worked. Any other 400 (a context too long, say)
is the request's: raised as is, the target's JSON mode untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from memoryd.errors import LLMError
from memoryd.llm.http import api_url, post_json, refuses_json_mode, reply_parser
from memoryd.llm.providers import Vendor, vendor
from memoryd.llm.types import ChatRequest, Completion, JsonMode, Target, Usage

if TYPE_CHECKING:
    from memoryd.llm.transport import HTTPClient

__all__ = ["OpenAIChat", "auth_headers", "build_request", "endpoint", "parse_response"]

_LOWER: dict[JsonMode, JsonMode] = {"schema": "object", "object": "none", "none": "none"}
# A parameter a model refuses outright (OpenAI: "Unsupported value: 'temperature' does not support 0
# with this model. Only the default (1) value is supported."), not a value out of its range.
_REFUSED = re.compile(r"unsupported|not supported|does not support|only the default", re.I)


def endpoint(target: Target, record: Vendor, route: str = "/chat/completions") -> tuple[str, dict[str, str]]:
    """The URL of ``target``'s ``route`` (chat completions, or the embedder's ``/embeddings``) and its
    query parameters (Azure's ``api-version``); a ``base_url`` naming the route itself is kept."""
    # Azure: one URL per deployment, versioned by a query parameter.
    path = f"/openai/deployments/{quote(target.model, safe='')}" if record.auth == "api-key" else ""
    url = api_url(target.base_url, f"{path}{route}", route)
    version = target.api_version or record.default_api_version
    return url, ({"api-version": version} if record.auth == "api-key" and version else {})


def auth_headers(target: Target, record: Vendor) -> dict[str, str]:
    """The header carrying ``target``'s key, in the vendor's style (none without a key)."""
    if not target.api_key:
        return {}
    if record.auth == "api-key":
        return {"api-key": target.api_key}
    return {"Authorization": f"Bearer {target.api_key}"}


def build_request(
    target: Target, request: ChatRequest, mode: JsonMode | None = None
) -> tuple[str, dict[str, str], dict[str, Any], dict[str, str]]:
    """``(url, headers, body, query)`` for one chat completion; ``mode`` overrides the JSON mode."""
    record = vendor(target.provider)
    url, params = endpoint(target, record)
    own_url = record.base_url is not None and target.base_url.rstrip("/") == record.base_url.rstrip("/")
    body: dict[str, Any] = {
        "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
        "temperature": target.temperature if request.temperature is None else request.temperature,
        # Other servers behind an "openai" provider know the classic name.
        (record.max_tokens_field if own_url else "max_tokens"): request.max_tokens or target.max_tokens,
    }
    if record.auth != "api-key":  # Azure names the model in the URL
        body["model"] = target.model
    if request.json:
        chosen = mode or record.json_mode
        if chosen == "schema" and request.schema is None:
            chosen = "object"
        if chosen == "schema":
            schema = {"name": request.schema_name, "schema": dict(request.schema or {}), "strict": False}
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        elif chosen == "object":
            body["response_format"] = {"type": "json_object"}
    return url, auth_headers(target, record), body, params


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers answer with content parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


@reply_parser
def parse_response(target: Target, data: dict[str, Any]) -> Completion:
    """A :class:`Completion` from a chat-completions reply body."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise LLMError(f"{target.label}: the reply has no choices", target=target.label)
    message = choices[0].get("message") or {}
    refusal = message.get("refusal") if isinstance(message, dict) else None
    return Completion(
        text=_text(message.get("content")),
        model=str(data.get("model") or target.model),
        target=target.label,
        usage=Usage.reported(data.get("usage"), "prompt_tokens", "completion_tokens"),
        finish_reason=choices[0].get("finish_reason"),
        refusal=refusal if isinstance(refusal, str) and refusal.strip() else None,
    )


@dataclass(frozen=True)
class _Learned:
    """What one target refused and is no longer sent: a JSON mode (the lower one that worked), a
    temperature, the classic ``max_tokens`` name (``max_completion_tokens`` instead)."""

    mode: JsonMode | None = None
    no_temperature: bool = False
    completion_tokens: bool = False

    def apply(self, body: dict[str, Any]) -> None:
        if self.no_temperature:
            body.pop("temperature", None)
        if self.completion_tokens and "max_tokens" in body:
            body["max_completion_tokens"] = body.pop("max_tokens")

    def after(self, target: Target, body: dict[str, Any], exc: LLMError) -> _Learned | None:
        """What to send instead after ``exc`` refused ``body`` (``None``: nothing; raise it)."""
        if exc.status != 400:
            return None
        sent = body.get("response_format", {}).get("type")
        if sent is not None and refuses_json_mode(target, exc):
            return replace(self, mode=_LOWER["schema" if sent == "json_schema" else "object"])
        said = exc.message.removeprefix(target.label)  # the label names the model
        if "temperature" in body and "temperature" in said and _REFUSED.search(said):
            return replace(self, no_temperature=True)
        if "max_tokens" in body and "max_completion_tokens" in said:
            return replace(self, completion_tokens=True)
        return None


class OpenAIChat:
    """Chat completions over the router's shared :class:`HTTPClient`."""

    def __init__(self) -> None:
        self._learned: dict[str, _Learned] = {}  # per target label: what it refused, once past it

    async def complete(self, http: HTTPClient, target: Target, request: ChatRequest) -> Completion:
        learned = self._learned.get(target.label, _Learned())
        while True:
            url, headers, body, params = build_request(target, request, learned.mode)
            learned.apply(body)
            try:
                data = await post_json(http, target, url, headers, body, params)
            except LLMError as exc:
                instead = learned.after(target, body, exc)
                if instead is None:
                    raise
                learned = instead
                continue
            if learned != _Learned():
                self._learned[target.label] = learned
            return parse_response(target, data)
