"""The gateway's Gemini wire: OpenAI chat requests as ``generateContent`` calls, and back.

Request: system (and developer) messages go to ``systemInstruction``; turns
become ``contents`` with roles ``user``/``model``, the first the user's (a
conversation the assistant opens, an app's greeting, is sent after a user turn
saying so: :data:`~memoryd.llm.anthropic_client.OPENING`; system messages
alone get one: :data:`~memoryd.llm.anthropic_client.UNSAID`); an assistant's
``tool_calls`` become ``functionCall`` parts and tool results
``functionResponse`` parts (named after the call they answer);
``tools``/``tool_choice`` become ``functionDeclarations``/``toolConfig``;
``temperature``, ``top_p``, ``top_k``, ``max_tokens``, ``stop``, ``seed``,
penalties and ``response_format`` (JSON mode, JSON schema) go to
``generationConfig``; ``n`` is dropped (one candidate is asked for and
answered), and so are ``logprobs``, ``logit_bias`` and ``parallel_tool_calls``
(:meth:`GeminiWire.lacks` names what changes the answer). The API has no end-user
field: ``user``, ``safety_identifier`` and ``metadata`` are not sent. A stream calls
``streamGenerateContent?alt=sse``.

Answers: text parts (thoughts left out) become the content, ``functionCall``
parts ``tool_calls`` (Gemini gives them no ids: the gateway makes some up).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from memoryd.errors import LLMError
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
from memoryd.llm.anthropic_client import user_first
from memoryd.llm.gemini_client import endpoint
from memoryd.llm.types import Target, Usage

__all__ = ["WIRE", "GeminiStream", "GeminiWire", "translate_messages"]

_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "FINISH_REASON_UNSPECIFIED": "stop"}
_CONFIG = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",  # not OpenAI's, but clients send it (extra_body) for vendors that have it
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}


def _finish(reason: Any, calls: bool) -> str | None:
    if reason is None:
        return None
    if calls:
        return "tool_calls"
    return _FINISH.get(str(reason), "content_filter")


def _response(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to read: the text as is
        return {"content": text}
    return value if isinstance(value, dict) else {"content": value}


def _user_parts(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        text = content_text(content)
        return [{"text": text}] if text else []
    parts: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type", "text") == "text" and part.get("text"):
            parts.append({"text": str(part["text"])})
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str) and url.startswith("data:") and ";base64," in url:
                media, data = url[5:].split(";base64,", 1)
                parts.append({"inlineData": {"mimeType": media, "data": data}})
            elif isinstance(url, str):
                parts.append({"fileData": {"fileUri": url}})
    return parts


def translate_messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """``(system text, contents)`` for generateContent."""
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name
    for m in messages:
        role = m.get("role")
        if role in ("system", "developer"):
            text = content_text(m.get("content"))
            if text:
                system.append(text)
            continue
        if role == "tool":
            call_id = str(m.get("tool_call_id") or "")
            name = names.get(call_id, call_id)
            parts: list[dict[str, Any]] = [
                {"functionResponse": {"name": name, "response": _response(content_text(m.get("content")))}}
            ]
            role = "user"
        elif role == "assistant":
            text = content_text(m.get("content"))
            parts = [{"text": text}] if text else []
            for call in as_list(m.get("tool_calls")):
                if not isinstance(call, dict):
                    continue
                found = call.get("function")
                function: dict[str, Any] = found if isinstance(found, dict) else {}
                name = str(function.get("name") or "")
                names[str(call.get("id") or "")] = name
                args = tool_arguments(function.get("arguments"))
                parts.append({"functionCall": {"name": name, "args": args}})
            role = "model"
        else:
            role = "user"
            parts = _user_parts(m.get("content"))
        add_turn(contents, role, "parts", parts)
    return "\n\n".join(system), user_first(contents, lambda text: {"role": "user", "parts": [{"text": text}]})


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name, key in _CONFIG.items():
        if body.get(name) is not None:
            config[key] = body[name]
    tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if tokens:
        config["maxOutputTokens"] = tokens
    stop = stop_list(body.get("stop"))
    if stop:
        config["stopSequences"] = stop
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        spec = fmt.get("json_schema") if fmt["type"] == "json_schema" else None
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if isinstance(schema, dict):
            config["responseJsonSchema"] = schema
    return config


def _tools(body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    declarations = []
    for tool in as_list(body.get("tools")):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict):
            continue
        spec: dict[str, Any] = {"name": str(function.get("name") or "")}
        if function.get("description"):
            spec["description"] = str(function["description"])
        if function.get("parameters"):
            spec["parametersJsonSchema"] = function["parameters"]
        declarations.append(spec)
    if not declarations:
        return [], None
    choice = body.get("tool_choice")
    mode: dict[str, Any] | None = None
    if choice in ("auto", "required", "none"):
        mode = {"mode": {"auto": "AUTO", "required": "ANY", "none": "NONE"}[choice]}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        mode = {"mode": "ANY", "allowedFunctionNames": [str(choice["function"].get("name") or "")]}
    config = {"functionCallingConfig": mode} if mode else None
    return [{"functionDeclarations": declarations}], config


def _usage(data: dict[str, Any]) -> Usage | None:
    meta = data.get("usageMetadata")
    if not isinstance(meta, dict):
        return None
    completion_tokens = int(meta.get("candidatesTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0)
    return Usage(int(meta.get("promptTokenCount") or 0), completion_tokens)


def _parts(data: dict[str, Any]) -> tuple[str, list[dict[str, Any]], Any]:
    """``(text, function calls, finishReason)`` of the first candidate."""
    candidates = data.get("candidates") or []
    first = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    parts = (first.get("content") or {}).get("parts") or []
    text = "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict) and not p.get("thought"))
    calls = [
        p["functionCall"] for p in parts if isinstance(p, dict) and isinstance(p.get("functionCall"), dict)
    ]
    return text, calls, first.get("finishReason")


def _call(call: dict[str, Any], index: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": str(call.get("name") or ""), "arguments": json.dumps(call.get("args") or {})},
    }
    return out if index is None else {"index": index, **out}


@dataclass
class GeminiStream:
    """streamGenerateContent events → chat completion chunks."""

    target: Target
    include_usage: bool
    id: str = field(default_factory=new_id)
    created: int = field(default_factory=lambda: int(time.time()))
    model: str = ""
    done: bool = False
    ended: bool = False  # Gemini ends a stream by closing it: nothing says so before
    usage: Usage | None = None
    _started: bool = False
    _calls: int = 0

    def feed(self, event: Event) -> list[dict[str, Any]]:
        data = event_json(self.target, event)
        if not isinstance(data, dict):
            return []
        if data.get("error"):
            raise_stream_error(self.target, data["error"])
        self.model = str(data.get("modelVersion") or self.model or self.target.model)
        self.usage = _usage(data) or self.usage
        text, calls, reason = _parts(data)
        out: list[dict[str, Any]] = []
        if not self._started:
            self._started = True
            out.append(chunk(self.id, self.model, self.created, {"role": "assistant", "content": ""}))
        if text:
            out.append(chunk(self.id, self.model, self.created, {"content": text}))
        if calls:
            deltas = [_call(c, self._calls + i) for i, c in enumerate(calls)]
            self._calls += len(calls)
            out.append(chunk(self.id, self.model, self.created, {"tool_calls": deltas}))
        blocked = (data.get("promptFeedback") or {}).get("blockReason")
        if reason is not None or blocked:
            self.done = True
            finish = _finish(reason, self._calls > 0) or "content_filter"
            out.append(chunk(self.id, self.model, self.created, {}, finish))
        return out

    def finish(self) -> list[dict[str, Any]]:
        if self.include_usage and self.usage is not None:
            return [usage_chunk(self.id, self.model or self.target.model, self.created, self.usage)]
        return []


class GeminiWire:
    """Google's Gemini API (generateContent)."""

    def request(self, target: Target, body: dict[str, Any], *, stream: bool, usage: bool) -> UpstreamCall:
        method, params = ("streamGenerateContent", {"alt": "sse"}) if stream else ("generateContent", {})
        url, headers = endpoint(target, method)
        system, contents = translate_messages(as_list(body.get("messages")))
        out: dict[str, Any] = {"contents": contents}
        if system:
            out["systemInstruction"] = {"parts": [{"text": system}]}
        config = _generation_config(body)
        if config:
            out["generationConfig"] = config
        tools, tool_config = _tools(body)
        if tools:
            out["tools"] = tools
        if tool_config:
            out["toolConfig"] = tool_config
        return UpstreamCall(url, headers, out, params)

    def completion(self, target: Target, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise LLMError(f"{target.label}: the reply is not a JSON object", target=target.label)
        model = str(data.get("modelVersion") or target.model)
        if not data.get("candidates"):
            blocked = (data.get("promptFeedback") or {}).get("blockReason")
            if not blocked:
                raise LLMError(f"{target.label}: the reply has no candidates", target=target.label)
            empty = {"role": "assistant", "content": "", "refusal": None}
            return completion(new_id(), model, empty, "content_filter", _usage(data))
        text, calls, reason = _parts(data)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text or (None if calls else ""),
            "refusal": None,
        }
        if calls:
            message["tool_calls"] = [_call(c) for c in calls]
        return completion(new_id(), model, message, _finish(reason, bool(calls)) or "stop", _usage(data))

    def translator(self, target: Target, body: dict[str, Any], *, usage: bool) -> GeminiStream:
        return GeminiStream(target, include_usage=client_wants_usage(body))

    def lacks(self, body: dict[str, Any]) -> list[str]:
        return untranslated(body, json_output=True, serial_tools=False)


WIRE = GeminiWire()
