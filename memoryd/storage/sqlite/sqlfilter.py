"""Compile a :mod:`memoryd.filters` tree to an SQLite WHERE clause.

Follows :func:`memoryd.filters.matches` exactly (tests check both agree):
absent metadata keys never satisfy a comparison, booleans equal only booleans,
``contains`` is membership for JSON arrays and case-insensitive substring for
strings; ``event_time`` is ``created_at`` for a memory added without a time.
"""

from __future__ import annotations

from typing import Any

from memoryd.filters import And, Cond, Filter, Not, Or

__all__ = ["compile_filter"]

_CMP = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def compile_filter(node: Filter | None, *, table: str = "m") -> tuple[str, list[Any]]:
    if node is None:
        return "1", []
    params: list[Any] = []
    sql = _compile(node, table, params)
    return sql, params


def _compile(node: Filter, t: str, params: list[Any]) -> str:
    if isinstance(node, And):
        return "(" + " AND ".join(_compile(n, t, params) for n in node.items) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(_compile(n, t, params) for n in node.items) + ")"
    if isinstance(node, Not):
        return f"(NOT {_compile(node.item, t, params)})"
    return _cond(node, t, params)


def _bind(value: Any, params: list[Any]) -> str:
    params.append(value)
    return "?"


def _cond(c: Cond, t: str, params: list[Any]) -> str:
    if c.is_metadata and _plain(c.meta_key):
        # The JSON path is inlined as an SQL string literal so only values are bound.
        path = "'" + ('$."' + c.meta_key + '"').replace("'", "''") + "'"
        col = f"json_extract({t}.metadata, {path})"
        typ = f"coalesce(json_type({t}.metadata, {path}), 'null')"
        array_of = f"json_each({t}.metadata, {path})"
    elif c.is_metadata:
        # A key no JSON path can name (a quote: SQLite reads no escape in a path's label; empty;
        # a backslash or control character): the top-level entry of that key, compared as text.
        key = "'" + c.meta_key.replace("'", "''") + "'"
        entry = f"FROM json_each({t}.metadata) AS jk WHERE jk.key = {key}"
        col = f"(SELECT jk.value {entry})"
        typ = f"coalesce((SELECT jk.type {entry}), 'null')"
        array_of = f"json_each({col})"
    else:
        col = f"{t}.{c.field}"
        if c.field == "event_time":  # said when added, unless said otherwise (as search reads it)
            col = f"coalesce({t}.event_time, {t}.created_at)"
        typ = f"typeof({col})"
        array_of = ""
    return _generic(c, col, typ, array_of, params)


def _plain(key: str) -> bool:
    """Whether ``$."key"`` names ``key`` (SQLite's JSON path reads no escape in a label)."""
    return bool(key) and not any(c in key for c in '"\\') and all(ord(c) >= 32 for c in key)


def _typed_eq(col: str, typ: str, value: Any, params: list[Any]) -> str:
    if value is None:
        return "0"  # a present value is never null (JSON null counts as absent)
    if isinstance(value, bool):
        return f"({typ} = {_bind('true' if value else 'false', params)})"
    kinds = "('integer','real')" if isinstance(value, (int, float)) else "('text')"
    return f"({typ} IN {kinds} AND {col} = {_bind(value, params)})"


def _generic(c: Cond, col: str, typ: str, array_of: str, params: list[Any]) -> str:
    present = f"({typ} != 'null')"
    op, value = c.op, c.value
    if op == "eq":
        if value is None:
            return f"(NOT {present})"
        return f"({present} AND {_typed_eq(col, typ, value, params)})"
    if op == "ne":
        if value is None:
            return present
        return f"(NOT ({present} AND {_typed_eq(col, typ, value, params)}))"
    if op in ("in", "nin"):
        if not value:
            return "0" if op == "in" else "1"
        inner = " OR ".join(_typed_eq(col, typ, v, params) for v in value)
        return f"({inner})" if op == "in" else f"(NOT ({inner}))"
    if op == "contains":
        needle = str(value).casefold()
        if not array_of:
            return f"({typ} = 'text' AND instr(casefold({col}), {_bind(needle, params)}) > 0)"
        kind = "('integer','real')" if isinstance(value, (int, float)) else "('text')"
        member = (
            f"EXISTS (SELECT 1 FROM {array_of} je WHERE je.type IN {kind} "
            f"AND je.value = {_bind(value, params)})"
        )
        text = f"({typ} = 'text' AND instr(casefold({col}), {_bind(needle, params)}) > 0)"
        return f"(CASE {typ} WHEN 'array' THEN {member} ELSE {text} END)"
    sym = _CMP[op]
    kinds = "('text')" if isinstance(value, str) else "('integer','real')"
    return f"({typ} IN {kinds} AND {col} {sym} {_bind(value, params)})"
