"""Lone UTF-16 surrogates: text JSON can carry (``"\\ud83d"``) that no store or upstream can.

A parsed JSON string may hold half of a surrogate pair; UTF-8 cannot encode it, so SQLite,
PostgreSQL, Redis and every HTTP upstream would refuse it. What comes in from a caller is refused
naming where (:func:`lone_surrogate_at`); what memoryd must keep whatever it holds (an upstream's
answer cut in the middle of an emoji) has it replaced (:func:`replace_lone_surrogates`).

Each string is checked in C (ASCII at once, else by encoding it): a walk over the characters of
a 5 MB image's base64 held the event loop for 250 ms.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["is_unicode_text", "lone_surrogate_at", "replace_lone_surrogates"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def is_unicode_text(text: str) -> bool:
    """Whether ``text`` holds no lone surrogate (so UTF-8 can encode it)."""
    if text.isascii():  # most text by far: known at once
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def lone_surrogate_at(
    value: Any, where: str = "", *, brackets: bool = False, top: str = "body"
) -> str | None:
    """The path of the first string in ``value`` (keys included) holding a lone surrogate, else
    None. Paths join keys with ``.``; list items are ``.0`` or, with ``brackets``, ``[0]``. A bad
    key is named by the object holding it (``top`` at the top level): its own text cannot be
    written into any message."""
    if isinstance(value, str):
        return None if is_unicode_text(value) else where
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and not is_unicode_text(key):
                return where or top
            path = f"{where}.{key}" if where else str(key)
            found = lone_surrogate_at(item, path, brackets=brackets, top=top)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            path = f"{where}[{i}]" if brackets else f"{where}.{i}"
            found = lone_surrogate_at(item, path, brackets=brackets, top=top)
            if found is not None:
                return found
    return None


def replace_lone_surrogates(text: str) -> str:
    """``text`` with each lone surrogate made U+FFFD (the replacement character)."""
    return text if is_unicode_text(text) else _SURROGATE.sub("\ufffd", text)
