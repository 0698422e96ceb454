"""Filter expressions over built-in fields and metadata: parse, validate, evaluate.

The JSON form (mem0-compatible)::

    {"kind": "episode"}                              equality
    {"score": {"gte": 3, "lt": 9}}                   operators: eq ne in nin gt gte lt lte contains
    {"AND": [{...}, {...}]}  {"OR": [...]}  {"NOT": {...}}
    {"metadata.topic": "travel"}  or  {"topic": "travel"}   (non-built-in keys are metadata)

mem0's forms are read too: ``{"topic": "*"}`` (any value: the key is present),
``icontains`` (``contains`` ignores the case of text already; a list's elements match
exactly) and ``{"NOT": [{...}, ...]}`` (NOT of their AND).

Several keys in one object are joined with AND. A metadata key whose value is
JSON null counts as absent. :func:`parse_filter` turns the
JSON into a small tree; backends compile that tree to their own query language,
and :func:`matches` evaluates it in Python (the reference semantics).

A filter may nest ``max_depth`` levels and hold :data:`MAX_FILTER_TERMS` terms
(conditions, plus each value of an ``in``/``nin`` list): a bigger one is refused
with 422 here rather than left for a backend to fail on (SQLite's expression
tree is at most 1000 deep).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from memoryd.errors import InvalidFilterError, InvalidInputError
from memoryd.models import MemoryKind, MemoryRecord, parse_time, require_utf8

__all__ = [
    "BUILTIN_FIELDS",
    "MAX_FILTER_TERMS",
    "OPERATORS",
    "EPISODES",
    "And",
    "Cond",
    "Filter",
    "Not",
    "Or",
    "matches",
    "parse_filter",
]

OPERATORS = ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "contains")
TIME_FIELDS = frozenset({"created_at", "updated_at", "event_time", "valid_from", "valid_to"})
BUILTIN_FIELDS = (
    frozenset({"id", "kind", "role", "actor", "user_id", "agent_id", "run_id", "hash", "text"}) | TIME_FIELDS
)
_LOGICAL = {"AND", "OR", "NOT", "and", "or", "not", "$and", "$or", "$not"}
MAX_FILTER_TERMS = 200


@dataclass(frozen=True)
class Cond:
    """``field op value``; ``field`` is a built-in name or ``metadata.<key>``."""

    field: str
    op: str
    value: Any

    @property
    def is_metadata(self) -> bool:
        return self.field.startswith("metadata.")

    @property
    def meta_key(self) -> str:
        return self.field[len("metadata.") :]


@dataclass(frozen=True)
class And:
    items: tuple[Filter, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Filter, ...]


@dataclass(frozen=True)
class Not:
    item: Filter


Filter = Cond | And | Or | Not


def parse_filter(data: Any, *, max_depth: int = 8, max_terms: int = MAX_FILTER_TERMS) -> Filter | None:
    """Validate a JSON filter and return its tree (``None`` for no filter)."""
    if data is None or data == {}:
        return None
    tree = _parse(data, depth=1, max_depth=max_depth, path="filters")
    terms = _terms(tree)
    if terms > max_terms:
        raise InvalidFilterError(
            f"filters has {terms} terms (conditions and list values); the limit is {max_terms}",
            field="filters",
        )
    return tree


def _terms(node: Filter) -> int:
    if isinstance(node, (And, Or)):
        return sum(_terms(n) for n in node.items)
    if isinstance(node, Not):
        return _terms(node.item)
    return max(1, len(node.value)) if isinstance(node.value, list) else 1


def _parse(data: Any, *, depth: int, max_depth: int, path: str) -> Filter:
    if depth > max_depth:
        raise InvalidFilterError(f"{path}: filters nest deeper than {max_depth} levels", field=path)
    if not isinstance(data, dict) or not data:
        raise InvalidFilterError(f"{path}: a filter must be a non-empty JSON object", field=path)
    parts: list[Filter] = []
    for key, value in data.items():
        if not isinstance(key, str):
            raise InvalidFilterError(f"{path}: keys must be strings", field=path)
        where = f"{path}.{key}"
        if key in _LOGICAL:
            op = key.lstrip("$").upper()
            if op == "NOT" and not isinstance(value, list):
                parts.append(Not(_parse(value, depth=depth + 1, max_depth=max_depth, path=where)))
                continue
            if not isinstance(value, list) or not value:
                raise InvalidFilterError(f"{where}: {op} takes a non-empty list of filters", field=where)
            items = tuple(
                _parse(v, depth=depth + 1, max_depth=max_depth, path=f"{where}[{i}]")
                for i, v in enumerate(value)
            )
            if op == "NOT":  # mem0 writes NOT over a list: NOT of their AND
                parts.append(Not(items[0] if len(items) == 1 else And(items)))
            else:
                parts.append(And(items) if op == "AND" else Or(items))
            continue
        field = _field_name(key, where)
        if isinstance(value, dict):
            if not value:
                raise InvalidFilterError(f"{where}: give at least one operator", field=where)
            for op, operand in value.items():
                parts.append(_cond(field, op, operand, f"{where}.{op}"))
        elif value == "*":  # mem0's wildcard: the field has a value (JSON null counts as absent)
            parts.append(_cond(field, "ne", None, where))
        else:
            parts.append(_cond(field, "eq", value, where))
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _field_name(key: str, where: str) -> str:
    name = key[len("metadata.") :] if key.startswith("metadata.") else key
    # Any key metadata can hold (empty, quotes, backslashes, control characters) can be named; a
    # NUL or lone surrogate no stored key holds (``check_metadata`` refuses them).
    if "\x00" in name or any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        raise InvalidFilterError(f"{where}: invalid field name {key!r}", field=where)
    if key.startswith("metadata.") or name not in BUILTIN_FIELDS:
        return f"metadata.{name}"
    return name


_SCALARS = (str, int, float, bool, type(None))


def _cond(field: str, op: str, value: Any, where: str) -> Cond:
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            try:
                require_utf8(item, where)
            except InvalidInputError as exc:
                raise InvalidFilterError(exc.message, field=where) from exc
    op = op.lstrip("$").lower()
    op = "contains" if op == "icontains" else op  # mem0's name: contains ignores case already
    if op not in OPERATORS:
        raise InvalidFilterError(f"{where}: unknown operator; allowed: {', '.join(OPERATORS)}", field=where)
    if op in ("in", "nin"):
        if not isinstance(value, list) or not all(isinstance(v, _SCALARS) for v in value):
            raise InvalidFilterError(f"{where}: '{op}' takes a list of scalar values", field=where)
        value = [_coerce(field, v, where) for v in value]
    elif not isinstance(value, _SCALARS):
        raise InvalidFilterError(f"{where}: '{op}' takes a scalar value", field=where)
    else:
        if op in ("gt", "gte", "lt", "lte") and (value is None or isinstance(value, bool)):
            raise InvalidFilterError(f"{where}: '{op}' takes a number, string or time", field=where)
        if op == "contains" and (isinstance(value, bool) or not isinstance(value, (str, int, float))):
            raise InvalidFilterError(f"{where}: 'contains' takes a string or number", field=where)
        if op == "contains" and field in TIME_FIELDS:  # a time is a number here: no text to look in
            why = f"{where}: a time takes eq, ne, in, nin, gt, gte, lt or lte"
            raise InvalidFilterError(why, field=where)
        value = _coerce(field, value, where)
    if field in _TEXT_FIELDS and op != "contains":  # {"user_id": 5} would match nothing, silently
        for item in value if isinstance(value, list) else [value]:
            if item is not None and not isinstance(item, str):
                why = f"{where}: {field} is text; compare it with a string, not {type(item).__name__}"
                raise InvalidFilterError(why, field=where)
    if field == "kind" and op in ("eq", "ne", "in", "nin"):  # a misspelt kind would match nothing, silently
        for kind in value if isinstance(value, list) else [value]:
            if kind is not None and kind not in _KINDS:
                why = f"{where}: no kind {kind!r} (kinds: {', '.join(_KINDS)}; metadata's is metadata.kind)"
                raise InvalidFilterError(why, field=where)
    return Cond(field, op, value)


_KINDS = tuple(k.value for k in MemoryKind)
_TEXT_FIELDS = BUILTIN_FIELDS - TIME_FIELDS


def _coerce(field: str, value: Any, where: str) -> Any:
    if isinstance(value, float) and math.isnan(value):  # equal to nothing, not even itself
        raise InvalidFilterError(f"{where}: NaN is not a value filters can compare", field=where)
    if isinstance(value, float) and math.isinf(value):  # 1e400 read as JSON: no stored value is one
        why = f"{where}: {value} is out of range (a number in filters must be finite)"
        raise InvalidFilterError(why, field=where)
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise InvalidFilterError(f"{where}: integers in filters must fit in 64 bits: {value}", field=where)
    if field in TIME_FIELDS and isinstance(value, str) and not value.strip():  # no time: would match nothing
        why = f"{where}: an empty string is no time (ISO 8601 or epoch seconds)"
        raise InvalidFilterError(why, field=where)
    if field in TIME_FIELDS and value is not None:
        try:
            parsed = parse_time(value, field_name=where)
        except InvalidInputError as exc:
            raise InvalidFilterError(exc.message, field=where) from exc
        return parsed.timestamp() if parsed else None
    return value


# ---- reference evaluation -------------------------------------------------


def _field_value(memory: MemoryRecord, field: str) -> tuple[bool, Any]:
    if field.startswith("metadata."):
        value = memory.metadata.get(field[len("metadata.") :])
        return (value is not None, value)  # JSON null counts as absent
    value = getattr(memory, field)
    if field == "event_time" and value is None:  # said when it was added (search reads it so too)
        value = memory.created_at
    if isinstance(value, datetime):
        value = value.timestamp()
    elif hasattr(value, "value"):  # enums
        value = value.value
    return (value is not None, value)


def _compare(a: Any, b: Any, op: str) -> bool:
    if a is None or b is None or isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, str) != isinstance(b, str):
        return False
    try:
        return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
    except TypeError:
        return False


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def matches(memory: MemoryRecord, node: Filter | None) -> bool:
    """Evaluate a filter tree against one memory (the semantics every backend follows)."""
    if node is None:
        return True
    if isinstance(node, And):
        return all(matches(memory, n) for n in node.items)
    if isinstance(node, Or):
        return any(matches(memory, n) for n in node.items)
    if isinstance(node, Not):
        return not matches(memory, node.item)
    present, value = _field_value(memory, node.field)
    op, operand = node.op, node.value
    if op == "eq":
        return (not present) if operand is None else (present and _eq(value, operand))
    if op == "ne":
        return present if operand is None else not (present and _eq(value, operand))
    if op == "in":
        return present and any(_eq(value, v) for v in operand)
    if op == "nin":
        return not (present and any(_eq(value, v) for v in operand))
    if op == "contains":
        if isinstance(value, list):
            return any(_eq(v, operand) for v in value)
        return isinstance(value, str) and str(operand).casefold() in value.casefold()
    return present and _compare(value, operand, op)


# Raw turns only: what the session context, neighbours and recent-turn reads ask for.
EPISODES: Filter = parse_filter({"kind": MemoryKind.EPISODE.value})  # type: ignore[assignment]
