"""JSON from the command line and the files it names, read as the REST API reads a body: an object
that names a key twice (``--metadata '{"a": 1, "a": 2}'``) is refused, naming the key's path, never
read as its last value (which the server's 422 says it never is)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["RepeatedKeyError", "loads"]


class RepeatedKeyError(ValueError):
    """An object of the document named ``path``'s last key twice."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class _Twice(dict[str, Any]):
    key: str


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    twice, seen = _Twice(value), set()
    for key, _ in pairs:
        if key in seen:
            twice.key = key
            break
        seen.add(key)
    return twice


def _repeated(value: Any) -> str | None:
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, _Twice):
            return f"{path}{node.key}"
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        stack.extend((item, f"{path}{key}.") for key, item in reversed(list(items)))
    return None


def loads(text: str) -> Any:
    """``json.loads(text)``; :class:`RepeatedKeyError` when an object names a key twice."""
    value = json.loads(text, object_pairs_hook=_pairs)
    path = _repeated(value)
    if path is not None:
        raise RepeatedKeyError(path)
    return value
