"""A tool argument sent as ``null`` is an argument not given, for every tool and field alike: hosts
whose function calls carry each optional field, null when the model left it unset (OpenAI's strict
mode does), get the defaults, as ``limit: null`` always got them (a real ``memoryd mcp``, over stdio)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.mcp.test_stdio import _request, _start

pytestmark = pytest.mark.slow


def _call(request_id: int, name: str, arguments: dict[str, Any]) -> bytes:
    return _request(request_id, "tools/call", {"name": name, "arguments": arguments})


def test_null_arguments_are_the_defaults(tmp_path: Path) -> None:
    server = _start(tmp_path / "m.db", "--user-id", "ana")
    unset = {"agent_id": None, "run_id": None}
    add = {"messages": "I keep bees on the roof.", "metadata": None, "timestamp": None, "mode": None}
    read = {"limit": None, "filters": None, "as_of": None, **unset}
    lines = [
        _call(1, "add_memory", {**add, **unset}),
        _call(2, "list_memories", {**read, "offset": None, "include_expired": None}),
        _call(3, "search_memories", {**read, "query": "bees", "threshold": None}),
        _call(4, "list_memories", {"user_id": None, "offset": None}),  # the bound user, as if not named
        _call(5, "get_memory", {"memory_id": None}),  # a required one, null: still missing, named
    ]
    out, err = server.communicate(b"".join(lines), timeout=120)
    assert server.returncode == 0, err.decode()
    by_id = {r["id"]: r["result"] for r in (json.loads(line) for line in out.splitlines())}
    for request_id in (1, 2, 3, 4):
        assert by_id[request_id]["isError"] is False, by_id[request_id]
    listed = by_id[2]["structuredContent"]
    assert listed["offset"] == 0 and [m["memory"] for m in listed["results"]] == ["I keep bees on the roof."]
    assert by_id[3]["structuredContent"]["results"][0]["memory"] == "I keep bees on the roof."
    assert by_id[4]["structuredContent"]["total"] == 1
    assert by_id[5]["isError"] is True and "field: memory_id" in by_id[5]["content"][0]["text"]
