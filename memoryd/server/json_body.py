"""Reading a request's JSON without guessing: a key named twice in one object is found, not read as
its last value (``{"user_id": "a", "user_id": "b"}`` would write where the caller may not have
meant). One parse with :func:`loads`, then :func:`repeated_key` says where, if anywhere; every
route family that reads JSON (``/v1``, mem0's, admin, the chat gateway, ``/mcp``) uses them."""

from __future__ import annotations

from memoryd.json_keys import loads, repeated_key

__all__ = ["is_json", "loads", "repeated_key"]


def is_json(content_type: str) -> bool:
    """Whether a ``Content-Type`` declares JSON (``application/json``, or a ``+json`` type)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
