"""JSON from the command line and the files it names, read as the REST API reads a body: an object
that names a key twice (``--metadata '{"a": 1, "a": 2}'``) is refused, naming the key's path, never
read as its last value (which the server's 422 says it never is)."""

from __future__ import annotations

from typing import Any

from memoryd import json_keys

__all__ = ["RepeatedKeyError", "loads"]


class RepeatedKeyError(ValueError):
    """An object of the document named ``path``'s last key twice."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def loads(text: str) -> Any:
    """``json.loads(text)``; :class:`RepeatedKeyError` when an object names a key twice."""
    value = json_keys.loads(text)
    path = json_keys.repeated_key(value)
    if path is not None:
        raise RepeatedKeyError(path)
    return value
