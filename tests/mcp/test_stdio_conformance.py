"""``memoryd mcp`` in a real subprocess against MCP's stdio transport: each message is one line of
valid JSON to any line reader (U+2028, U+2029 and NEL inside a string included), batches are taken
only in a session before 2025-06-18 (which removed them), and ``tools/list`` takes no cursor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.mcp.test_stdio import _request, _start

pytestmark = pytest.mark.slow

ODD = "first\u2028second\u2029third\x85fourth"  # line breaks to str.splitlines(), not to JSON


def _initialize(version: str) -> bytes:
    return _request(1, "initialize", {"protocolVersion": version, "capabilities": {},
                                      "clientInfo": {"name": "test", "version": "1"}})  # fmt: skip


def _answers(out: bytes) -> list[Any]:
    """Every message the server wrote: one per line, each line valid JSON however it is split."""
    assert out.endswith(b"\n")
    lines = out[:-1].split(b"\n")
    for line in lines:
        text = line.decode("utf-8")
        assert text.splitlines() == [text], text  # one line to a reader splitting on any line break
    return [json.loads(line) for line in lines]


def test_every_message_is_one_line_and_a_batch_at_2025_06_18_is_refused(tmp_path: Path) -> None:
    server = _start(tmp_path / "m.db")
    batch = json.dumps([json.loads(_request(5, "ping")), json.loads(_request(6, "ping"))]).encode() + b"\n"
    lines = [
        _initialize("2025-06-18"),  # a batch right behind it is judged at the version it picks
        batch,
        _request(2, "tools/call", {"name": "add_memory", "arguments": {"user_id": "ana", "messages": ODD}}),
        _request(3, "tools/list", {"cursor": "next"}),
        _request(4, ODD),  # an unknown method: its error names it
        _request(7, "tools/list", {"cursor": None}),
    ]
    out, err = server.communicate(b"".join(lines), timeout=120)
    assert server.returncode == 0, err.decode()
    answers = _answers(out)
    refused = [a for a in answers if isinstance(a, dict) and a["id"] is None]
    assert len(refused) == 1 and refused[0]["error"]["code"] == -32600, answers  # the batch, whole
    assert "2025-06-18" in refused[0]["error"]["message"]
    by_id = {a["id"]: a for a in answers if isinstance(a, dict) and a["id"] is not None}
    assert sorted(by_id) == [1, 2, 3, 4, 7], answers  # the batch's pings did not run
    assert by_id[2]["result"]["structuredContent"]["results"][0]["memory"] == ODD  # the text, intact
    assert by_id[3]["error"]["code"] == -32602 and "cursor" in by_id[3]["error"]["message"]
    assert by_id[4]["error"]["code"] == -32601 and ODD in by_id[4]["error"]["message"]
    assert len(by_id[7]["result"]["tools"]) == 8 and "nextCursor" not in by_id[7]["result"]


def test_a_session_at_2024_11_05_still_takes_a_batch(tmp_path: Path) -> None:
    server = _start(tmp_path / "m.db")
    batch = json.dumps([json.loads(_request(5, "ping")), json.loads(_request(6, ODD))]).encode() + b"\n"
    out, err = server.communicate(_initialize("2024-11-05") + batch, timeout=120)
    assert server.returncode == 0, err.decode()
    first, answered = _answers(out)
    assert first["result"]["protocolVersion"] == "2024-11-05"
    assert isinstance(answered, list) and sorted(a["id"] for a in answered) == [5, 6]
    assert next(a for a in answered if a["id"] == 6)["error"]["code"] == -32601
