"""``search_memories`` and ``get_context`` take the asker's now (``reference_time``), as the library
does: "last Sunday" in a replayed conversation is its own Sunday, not the host clock's (a real
``memoryd mcp``, over stdio)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.mcp.test_stdio import _request, _start

pytestmark = pytest.mark.slow


def _call(request_id: int, name: str, arguments: dict[str, Any]) -> bytes:
    return _request(request_id, "tools/call", {"name": name, "arguments": arguments})


def test_relative_dates_are_read_against_the_reference_time(tmp_path: Path) -> None:
    server = _start(tmp_path / "m.db", "--user-id", "ana")
    sunday = "We went kayaking on the lake with my cousins."
    earlier = "We went to a kayaking shop to look at boats."
    question = "What did we do last Sunday?"
    asked = "2024-05-08T20:00:00+08:00"  # a Wednesday; last Sunday: 2024-05-05
    lines = [
        _call(1, "add_memory", {"messages": sunday, "timestamp": "2024-05-05T07:00:00+08:00"}),
        _call(2, "add_memory", {"messages": earlier, "timestamp": "2024-04-20T10:00:00+00:00"}),
        _call(3, "search_memories", {"query": question, "reference_time": asked, "limit": 2}),
        _call(4, "get_context", {"query": question, "reference_time": asked}),
        _call(5, "get_context", {"query": question, "reference_time": "next blursday"}),
    ]
    out, err = server.communicate(b"".join(lines), timeout=120)
    assert server.returncode == 0, err.decode()
    by_id = {r["id"]: r["result"] for r in (json.loads(line) for line in out.splitlines())}
    hits = by_id[3]["structuredContent"]["results"]
    assert [h["memory"] for h in hits] == [sunday, earlier]
    text = by_id[4]["structuredContent"]["text"]
    # the Sunday turn first, dated on the asker's (+08:00) day, not UTC's 2024-05-04
    assert f"(2024-05-05) user: {sunday}" in text
    assert text.index(sunday) < text.index(earlier)
    assert by_id[5]["isError"] is True and "field: reference_time" in by_id[5]["content"][0]["text"]
