"""Structured output: ask for JSON, repair it, validate it with pydantic, re-ask once.

:func:`structured` never raises because of what a model wrote. It asks for
JSON (JSON mode or a schema where the vendor supports it, and in the prompt),
repairs the answer (:mod:`memoryd.llm.repair`), validates it against the
pydantic model and, if that fails, re-asks once with the validation error
appended. A target whose answers stay unusable is rejected and the router
falls back to the next target; when none gives a usable answer the result
has ``value=None`` and says why. Only :class:`LLMUnavailableError` (no target
answered at all) is raised.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from memoryd.errors import LLMOutputError, LLMUnavailableError
from memoryd.llm.repair import brackets, holds_something, parse_json, strip_think
from memoryd.llm.router import Router
from memoryd.llm.types import ChatRequest, Completion, Message, Target, Usage

__all__ = ["Structured", "instruction", "structured", "validate"]

M = TypeVar("M", bound=BaseModel)
_ECHO_CHARS = 4000  # how much of a bad answer is shown back to the model when re-asking
_MAX_ERRORS = 5
# Why a reply stopped when it hit the token limit (OpenAI, Anthropic, Gemini): a JSON answer cut
# there is repaired into a valid but shorter one.
_CUT_OFF = frozenset({"length", "max_tokens", "MAX_TOKENS"})
# A reply that ended as asked (OpenAI, Anthropic, Gemini); any other reason is named with an
# unusable answer: an empty one cut by a content filter ("content_filter", "SAFETY") is no outage.
_ENDED = frozenset({"stop", "end_turn", "stop_sequence", "STOP"})


@dataclass
class Structured(Generic[M]):
    """What one structured exchange produced, and what it cost."""

    value: M | None
    calls: int = 0
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    repaired: bool = False  # the answer needed repair or a re-ask
    target: str | None = None  # the target that gave the final answer
    # the answer used was cut short (it stopped at the token limit, or its JSON ends unclosed): what
    # came after is missing
    truncated: bool = False


def instruction(schema: type[BaseModel]) -> str:
    """The sentence appended to the system prompt that asks for JSON matching ``schema``."""
    compact = json.dumps(schema.model_json_schema(), separators=(",", ":"), ensure_ascii=False)
    return (
        "Answer with one JSON object that matches this JSON schema, and nothing else "
        f"(no prose, no code fence):\n{compact}"
    )


def _summary(exc: ValidationError) -> str:
    errors = exc.errors()
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in errors[:_MAX_ERRORS]]
    more = f" (and {len(errors) - _MAX_ERRORS} more)" if len(errors) > _MAX_ERRORS else ""
    return "; ".join(parts) + more


def _candidates(value: Any, schema: type[BaseModel]) -> list[Any]:
    """The parsed value, plus the shapes small models often use instead of the asked one."""
    out = [value]
    fields = schema.model_fields
    required = [name for name, f in fields.items() if f.is_required()]
    if isinstance(value, list):  # the list alone, without its wrapping object
        names = required if len(required) == 1 else list(fields) if len(fields) == 1 else []
        out += [{names[0]: value}] if names else []
    if isinstance(value, dict) and len(value) == 1:  # the object wrapped in one more key
        inner = next(iter(value.values()))
        if isinstance(inner, dict):
            out.append(inner)
    return out


def validate(text: str, schema: type[M]) -> tuple[M | None, str | None, bool]:
    """``(value, error, repaired)`` for one answer: pure, never raises."""
    if not text.strip():
        return None, "the answer was empty", False
    parsed = parse_json(text)
    if not parsed.ok:
        return None, parsed.error, True
    if parsed.doubtful:  # what it would yield is not what the model meant: ask again
        return None, "the JSON is malformed: a string seems to hold an unescaped quote", True
    first: str | None = None
    empty: M | None = None  # a match that holds nothing, kept in case no later object does better
    shapes = [(c, i > 0) for i, c in enumerate(_candidates(parsed.value, schema))]
    shapes += [(c, True) for other in parsed.others for c in _candidates(other, schema)]
    for candidate, reshaped in shapes:
        try:
            value = schema.model_validate(candidate)
        except ValidationError as exc:
            first = first or _summary(exc)
            continue
        except (ValueError, TypeError, RecursionError) as exc:  # a validator of the schema's own
            first = first or str(exc)
            continue
        if holds_something(value.model_dump()):
            return value, None, parsed.repaired or reshaped
        empty = empty or value  # an echoed format ({"facts": []}) before the answer, perhaps
    if empty is not None:
        return empty, None, parsed.repaired
    return None, f"the JSON does not match the schema: {first}", parsed.repaired


def _ends_open(text: str) -> bool:
    """Whether ``text`` ends inside a JSON object or array it opened: an answer cut short, whatever
    reason the server gave for stopping (a proxy that cut it, a server that says "stop" at its
    limit). Repair closes it, so what came before the cut is used; what came after is missing."""
    *_, (_, _, left_open) = brackets(strip_think(text))
    return left_open > 0


def _cut(completion: Completion, repaired: bool) -> bool:
    """Whether ``completion``'s answer was cut short (see :func:`_ends_open`)."""
    return completion.finish_reason in _CUT_OFF or (repaired and _ends_open(completion.text))


def _read(completion: Completion, schema: type[M]) -> tuple[M | None, str | None, bool, bool]:
    """``(value, error, repaired, cut)`` for ``completion``'s answer (see :func:`validate`). An answer
    cut short before anything usable in it (repaired into an empty one: "no facts") is unusable,
    not an answer that found nothing: it is asked again, then falls back."""
    value, error, repaired = validate(completion.text, schema)
    cut = value is not None and _cut(completion, repaired)
    if value is not None and cut and not holds_something(value.model_dump()):
        return None, "the answer was cut short before anything usable in it", repaired, False
    return value, error, repaired, cut


def _why(completion: Completion, error: str | None) -> str:
    """Why ``completion``'s answer is unusable: ``error``, and how the reply ended if not as asked."""
    reason = completion.finish_reason
    stopped = f" (the reply ended with finish reason {reason!r})" if reason and reason not in _ENDED else ""
    if completion.refusal is not None and not completion.text.strip():  # not "the answer was empty"
        return f"the model refused: {completion.refusal[:300]!r}{stopped}"
    return f"{error or 'invalid'}{stopped}"


def _with_instruction(messages: Sequence[Message], schema: type[BaseModel]) -> list[Message]:
    note = instruction(schema)
    out = [dict(m) for m in messages]
    for m in out:
        if m["role"] == "system":
            m["content"] = f"{m['content']}\n\n{note}"
            return list(out)
    return [{"role": "system", "content": note}, *out]


def _reask(request: ChatRequest, answer: str, error: str) -> ChatRequest:
    shown = answer[:_ECHO_CHARS] if answer.strip() else "(an empty answer)"
    follow_up = (
        f"That answer could not be used: {error}. Reply again with only the corrected JSON object "
        "matching the schema: no prose, no code fence."
    )
    messages = [
        *request.messages,
        {"role": "assistant", "content": shown},
        {"role": "user", "content": follow_up},
    ]
    return dataclasses.replace(request, messages=messages)


@dataclass
class _Tally:
    calls: int = 0
    usage: Usage = field(default_factory=Usage)
    reasked: bool = False
    last_error: str | None = None
    last_target: str | None = None

    async def ask(self, router: Router, target: Target, request: ChatRequest) -> Completion:
        self.calls += 1
        completion = await router.call(target, request)
        self.usage = self.usage + completion.usage
        self.last_target = target.label
        return completion


async def structured(
    router: Router,
    messages: Sequence[Message],
    schema: type[M],
    *,
    max_tokens: int | None = None,
    temperature: float | None = None,
    instruct: bool = True,
) -> Structured[M]:
    """Ask for a ``schema`` instance; see the module docstring. ``instruct=False`` leaves the
    prompt alone (when it already describes the JSON wanted)."""
    base = _with_instruction(messages, schema) if instruct else list(messages)
    request = ChatRequest(
        base,
        json=True,
        schema=schema.model_json_schema(),
        schema_name=schema.__name__,
        max_tokens=max_tokens,
        temperature=temperature,
    )
    tally = _Tally()

    async def attempt(target: Target) -> tuple[M, bool, bool]:
        completion = await tally.ask(router, target, request)
        value, error, repaired, cut = _read(completion, schema)
        if value is not None:
            return value, repaired, cut
        error = _why(completion, error)
        tally.last_error = f"{target.label}: {error}"
        if not tally.reasked:  # once per structured call, whatever the number of targets
            tally.reasked = True
            second = await tally.ask(router, target, _reask(request, completion.text, error))
            value, error, repaired, cut = _read(second, schema)
            if value is not None:
                return value, True, cut
            error = _why(second, error)
        tally.last_error = f"{target.label}: {error}"
        raise LLMOutputError(f"{target.label}: unusable answer: {error}", target=target.label)

    try:
        value, repaired, truncated = await router.run(attempt, timeout=False)
    except LLMUnavailableError as exc:
        if tally.last_error is None:
            exc.details["calls"] = tally.calls  # nobody gave an answer at all: the calls made still count
            raise
        error = f"no usable answer after {tally.calls} calls; last: {tally.last_error}"
        if len(exc.failures) > 1:
            error += f" (all targets: {exc.message})"
        elif any(not isinstance(cause, LLMOutputError) for cause in exc.causes.values()):
            error += f" (then {exc.message})"  # the target went down after its bad answer: say so
        return Structured(None, tally.calls, tally.usage, error, True, tally.last_target)
    return Structured(value, tally.calls, tally.usage, None, repaired, tally.last_target, truncated)
