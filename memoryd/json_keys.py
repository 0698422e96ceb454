"""JSON read without guessing: a key named twice in one object is found, not read as its last
value (``{"user_id": "a", "user_id": "b"}``). One parse with :func:`loads`, then
:func:`repeated_key` says where, if anywhere. The REST server reads request bodies so
(:mod:`memoryd.server.json_body`) and the CLI its JSON options and files
(:mod:`memoryd.cli.strict_json`). No import beyond the standard library: the CLI starts fast."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["loads", "repeated_key"]


class _Twice(dict[str, Any]):
    """A JSON object that named ``key`` more than once."""

    key: str


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    twice, seen = _Twice(value), set()
    for key, _ in pairs:
        if key in seen:
            twice.key = key
            return twice
        seen.add(key)
    return twice  # not reached: fewer keys than pairs means one came twice


def loads(data: str | bytes, **options: Any) -> Any:
    """``json.loads(data, **options)``, marking each object that names a key twice (see
    :func:`repeated_key`); raises what ``json.loads`` raises."""
    return json.loads(data, object_pairs_hook=_pairs, **options)


def repeated_key(value: Any) -> str | None:
    """The path of the first key an object of ``value`` (read by :func:`loads`) names twice
    (``user_id``, ``metadata.k``, ``messages.0.content``), if any."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, _Twice):
            return f"{path}{node.key}"
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        stack.extend((item, f"{path}{key}.") for key, item in reversed(list(items)))
    return None
