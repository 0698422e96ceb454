"""Validate and normalise what callers hand to ``add``: pure, no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from memoryd.config import LimitsConfig
from memoryd.errors import InvalidInputError, NotSupportedError, PayloadTooLargeError
from memoryd.models import MAX_SCOPE_ID_CHARS, Message, Scope, parse_time, require_utf8

__all__ = [
    "MAX_NESTING",
    "MAX_OFFSET",
    "MAX_TOKEN_BUDGET",
    "MODES",
    "TOO_LONG_NUMBER",
    "AddInput",
    "check_bool",
    "check_int",
    "check_metadata",
    "check_query",
    "check_texts",
    "clean_text",
    "normalise_add",
    "normalise_messages",
    "update_inputs",
]

MODES = ("fast", "fine")
ROLES = ("user", "assistant", "system", "tool")


@dataclass(frozen=True)
class AddInput:
    """A validated ``add`` call."""

    messages: list[Message]
    times: list[datetime | None]  # per-message event time (message field, else the call's)
    scope: Scope
    metadata: dict[str, Any]
    mode: str


MAX_OFFSET = 10**12  # a page's offset (list_memories, get_all)
MAX_TOKEN_BUDGET = 1_000_000  # a context's token budget
MAX_NESTING = 64  # levels of objects and lists in metadata (JSON encoders stop at a few hundred)
TOO_LONG_NUMBER = "a number too long to read (integers may have at most 4,300 digits)"  # Python's cap


def _too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects and lists more than ``limit`` levels (no recursion: any depth)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


INT64 = 2**63  # SQLite's integers: a larger one would be compared as a float by filters


def _unfilterable(value: Any, path: str) -> tuple[str, str] | None:
    """What in ``value`` filters could not match exactly, by its path: a NUL in a key or string
    (SQLite's JSON functions end a string there) or an integer beyond 64 bits (read as a float)."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, Mapping):
            for key, child in item.items():
                if isinstance(key, str) and "\x00" in key:
                    return where, f"{where} has a key with a NUL character"
                stack.append((child, f"{where}.{key}"))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{where}.{i}") for i, child in enumerate(item))
        elif isinstance(item, str) and "\x00" in item:
            return where, f"{where} contains a NUL character"
        elif isinstance(item, int) and not isinstance(item, bool) and not -INT64 <= item < INT64:
            return where, f"{where} is an integer beyond 64 bits (store it as a string)"
    return None


def check_metadata(metadata: Any, *, field: str = "metadata") -> dict[str, Any]:
    """``metadata`` as a dict, if it is a JSON object every store and response can hold."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(f"{field} must be a JSON object", field=field)
    if _too_deep(metadata, MAX_NESTING):  # storable, but then no response could be written
        raise InvalidInputError(
            f"{field} nests more than {MAX_NESTING} levels of objects and lists", field=field
        )
    try:
        json.dumps(metadata, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{field} is not valid UTF-8 text (lone surrogate)", field=field) from exc
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{field} must be JSON-serialisable: {exc}", field=field) from exc
    if not all(isinstance(k, str) for k in metadata):
        raise InvalidInputError(f"{field} keys must be strings", field=field)
    if (bad := _unfilterable(metadata, field)) is not None:
        raise InvalidInputError(bad[1], field=bad[0])
    return dict(metadata)


def clean_text(value: Any, field: str, limits: LimitsConfig) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be a string, got {type(value).__name__}", field=field)
    if "\x00" in value:
        value = value.replace("\x00", "")
    require_utf8(value, field)
    if not value.strip():
        raise InvalidInputError(f"{field} is empty", field=field)
    if len(value) > limits.max_message_chars:
        raise PayloadTooLargeError(
            f"{field} has {len(value)} characters; the limit is {limits.max_message_chars}", field=field
        )
    return value


def update_inputs(text: Any, metadata: Any, limits: LimitsConfig) -> tuple[str | None, dict[str, Any] | None]:
    """An update's new text and new metadata, checked (None: unchanged; one at least is given)."""
    if text is None and metadata is None:
        raise InvalidInputError("give text or metadata to update", field="text")
    clean = clean_text(text, "text", limits) if text is not None else None
    return clean, check_metadata(metadata) if metadata is not None else None


def normalise_messages(messages: Any, limits: LimitsConfig) -> tuple[list[Message], list[Any]]:
    """Accept a string, one message dict, or a list of strings/dicts."""
    if isinstance(messages, (str, Mapping)):
        messages = [messages]
    if not isinstance(messages, Sequence) or isinstance(messages, (bytes, bytearray)):
        raise InvalidInputError("messages must be a string or a list of messages", field="messages")
    if not messages:
        raise InvalidInputError("messages is empty", field="messages")
    if len(messages) > limits.max_messages_per_add:
        raise PayloadTooLargeError(
            f"messages has {len(messages)} items; the limit is {limits.max_messages_per_add}",
            field="messages",
        )
    out: list[Message] = []
    times: list[Any] = []
    for i, item in enumerate(messages):
        where = f"messages[{i}]"
        if isinstance(item, str):
            out.append(Message(clean_text(item, where, limits)))
            times.append(None)
            continue
        if not isinstance(item, Mapping):
            raise InvalidInputError(f"{where} must be a string or an object with 'content'", field=where)
        content = item.get("content")
        if content is None:
            raise InvalidInputError(f"{where}.content is required", field=f"{where}.content")
        role = item.get("role", "user")
        if role not in ROLES:
            raise InvalidInputError(f"{where}.role must be one of {', '.join(ROLES)}", field=f"{where}.role")
        name = item.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            raise InvalidInputError(f"{where}.name must be a short string", field=f"{where}.name")
        if name is not None:  # the speaker as filters and prompts name it: no padding, "" is nobody
            name = require_utf8(name, f"{where}.name").strip() or None
        mid = item.get("id")
        if mid is not None and (isinstance(mid, bool) or not isinstance(mid, (str, int))):
            raise InvalidInputError(f"{where}.id must be a string or an integer", field=f"{where}.id")
        if mid is not None:  # as a name: no padding, "" is none; an identifier, not a document
            mid = require_utf8(str(mid), f"{where}.id").strip() or None
        if mid is not None and len(mid) > MAX_SCOPE_ID_CHARS:
            why = f"{where}.id is {len(mid)} characters; at most {MAX_SCOPE_ID_CHARS} are allowed"
            raise InvalidInputError(why, field=f"{where}.id")
        out.append(Message(clean_text(content, f"{where}.content", limits), role, name, mid))
        stamp = item.get("timestamp")
        if stamp is None or stamp == "":  # 0 is a time (the epoch), not a missing one
            stamp = item.get("created_at")
        times.append(parse_time(stamp, field_name=f"{where}.timestamp"))
    return out, times


def normalise_add(
    messages: Any,
    *,
    scope: Scope,
    metadata: Any,
    timestamp: Any,
    mode: str | None,
    default_mode: str,
    limits: LimitsConfig,
) -> AddInput:
    """Validate an ``add`` call; ``default_mode`` is "fine" exactly when an LLM is configured."""
    scope.require()
    chosen = mode or default_mode
    if chosen not in MODES:
        raise InvalidInputError(f"mode must be one of {', '.join(MODES)}", field="mode")
    if chosen == "fine" and default_mode != "fine":
        raise NotSupportedError(
            "mode='fine' (LLM fact extraction) needs an LLM: set MEMORYD_LLM_MODEL (and "
            "MEMORYD_LLM_BASE_URL / MEMORYD_LLM_API_KEY) or the [llm] section of the config; "
            "mode='fast' stores every message as an episode without one",
            field="mode",
        )
    msgs, times = normalise_messages(messages, limits)
    call_time = parse_time(timestamp, field_name="timestamp")
    return AddInput(msgs, [t or call_time for t in times], scope, check_metadata(metadata), chosen)


def check_query(query: Any, max_chars: int) -> None:
    """A search or context query: non-empty text (NUL is no text, as in add), UTF-8, not too long."""
    if not isinstance(query, str) or not query.replace("\x00", "").strip():
        raise InvalidInputError("query must be a non-empty string", field="query")
    require_utf8(query, "query")
    if len(query) > max_chars:  # too large, as a message over its limit is (413)
        message = f"query has {len(query)} characters; the limit is {max_chars}"
        raise PayloadTooLargeError(message, field="query")


def check_texts(name: str, values: Any, most: int) -> list[str]:
    """A list (tuple, set) of at most ``most`` texts (a string alone is none: its letters are no texts)."""
    if not isinstance(values, (list, tuple, set, frozenset)):
        raise InvalidInputError(f"{name} must be a list of texts", field=name)
    if len(values) > most:
        raise InvalidInputError(f"{name} holds {len(values)} texts; at most {most}", field=name)
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise InvalidInputError(
                f"{name}[{i}] must be text, not {type(value).__name__}", field=f"{name}.{i}"
            )
    return list(values)


def check_bool(name: str, value: Any) -> bool:
    """A yes/no argument: ``True`` or ``False`` only (``"false"`` or ``1`` is truthy, and the REST
    server refuses them: the embedded API and the remote client refuse them as it does)."""
    if not isinstance(value, bool):
        raise InvalidInputError(f"{name} must be true or false", field=name)
    return value


def check_int(name: str, value: Any, low: int, high: int) -> None:
    """An integer argument within ``[low, high]`` (a bool is no integer here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInputError(f"{name} must be an integer from {low} to {high}", field=name)
