"""What ``config show`` and error messages print of secrets held in lists: ``mask`` masked a secret
key's value and the tables inside lists, but strings in a list (``{"api_key": ["sk-x"]}``) or in
a tuple, at any depth, were left as they were."""

from __future__ import annotations

from typing import Any

from memoryd.redact import mask, masked


def test_strings_in_a_secret_keys_lists_are_masked_however_deep() -> None:
    data: dict[str, Any] = {
        "api_key": ["sk-x", ("sk-y", ["sk-z"])],
        "tiers": [[{"api_key": "sk-1", "model": "m"}], ({"token": ("t-1",)},)],
        "base_url": ["http://u:pw@host/v1", ("https://k@host",)],
        "models": ["small", ("large",)],
        "secret": ["", None],
    }
    mask(data)
    assert data == {
        "api_key": ["***", ("***", ["***"])],
        "tiers": [[{"api_key": "***", "model": "m"}], ({"token": ("***",)},)],
        "base_url": ["http://u:***@host/v1", ("https://***@host",)],
        "models": ["small", ("large",)],
        "secret": ["", None],
    }
    assert "sk-" not in repr(masked({"keys": [{"api_key": ["sk-x"]}]}, "llm"))
    assert masked(["sk-x"], "api_key") == ["***"]


def test_what_held_no_secret_is_as_it_was() -> None:
    data: dict[str, Any] = {
        "api_key": "sk-x",
        "password": "",
        "token_budget": 100,
        "url": "redis://:pw@h:6379/0",
        "keys_path": "/k.json",
        "user_headers": ["x-user"],
        "qdrant": {"api_key": None, "url": "http://h:6333"},
    }
    mask(data)
    assert data == {
        "api_key": "***",
        "password": "",
        "token_budget": 100,
        "url": "redis://:***@h:6379/0",
        "keys_path": "/k.json",
        "user_headers": ["x-user"],
        "qdrant": {"api_key": None, "url": "http://h:6333"},
    }
