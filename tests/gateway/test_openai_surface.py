"""The edges of the OpenAI surface: big bodies, refusals in OpenAI's shape, routes the gateway does
not serve, and upstreams that refuse memoryd itself (a bad key, a model they do not have).

Each test failed on the code before its fix (found in a review of the gateway).
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from memoryd.errors import InvalidInputError
from memoryd.gateway.routes import _check


def _image_body(image_chars: int, text: str = "what is this") -> dict[str, Any]:
    url = "data:image/jpeg;base64," + "A" * image_chars
    parts = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]
    return {"model": "m", "messages": [{"role": "user", "content": parts}]}


def _python_steps(body: dict[str, Any]) -> int:
    """Function calls and generator steps (Python's and C's) made checking ``body``."""
    steps = 0

    def count(frame: Any, event: str, arg: Any) -> None:
        nonlocal steps
        steps += 1

    sys.setprofile(count)
    try:
        _check(body)
    finally:
        sys.setprofile(None)
    return steps


def test_the_lone_surrogate_check_does_not_walk_a_long_text_character_by_character() -> None:
    # A 4.9 MB image held the event loop for 250 ms: a Python step per character.
    assert _python_steps(_image_body(1_000_000)) == _python_steps(_image_body(10))
    big = _image_body(5_000_000, "ça va? 🐕")
    assert _check(big) is big  # 5 MB, non-ASCII text: fine
    big["messages"][0]["content"][0]["text"] = "ça va? \ud83d"
    with pytest.raises(InvalidInputError) as bad:
        _check(big)
    assert bad.value.field == "messages[0].content[0].text"
