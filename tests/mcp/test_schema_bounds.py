"""Every bound a tool's listed schema states is the bound its call keeps: a value the schema admits
is taken, one past it refused naming the field (``token_budget`` and ``offset`` were listed with no
maximum, so a host validating by the schema sent 2,000,000 and had it refused; an add's
``timestamp`` was listed as text only, though seconds since the epoch are taken). A real
``memoryd mcp`` over stdio."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.mcp.test_stdio import _request, _start

pytestmark = pytest.mark.slow

# (tool, the other arguments, the bounded integer argument)
BOUNDED: list[tuple[str, dict[str, Any], str]] = [
    ("get_context", {"query": "where do I keep bees?"}, "token_budget"),
    ("list_memories", {}, "offset"),
    ("list_memories", {}, "limit"),
    ("search_memories", {"query": "bees"}, "limit"),
]


def test_the_listed_bounds_are_the_bounds_kept(tmp_path: Path) -> None:
    schema_server = _start(tmp_path / "m.db", "--user-id", "ana")
    out, err = schema_server.communicate(_request(1, "tools/list", {}), timeout=120)
    assert schema_server.returncode == 0, err.decode()
    schemas = {t["name"]: t["inputSchema"] for t in json.loads(out)["result"]["tools"]}

    lines, expected = [], {}
    add = {"messages": "I keep bees on the roof.", "timestamp": 1_700_000_000}
    jsonschema.validate(add, schemas["add_memory"], cls=jsonschema.Draft202012Validator)
    lines.append(_request(1, "tools/call", {"name": "add_memory", "arguments": add}))
    expected[1] = None
    request_id = 1
    for tool, others, name in BOUNDED:
        bounds = schemas[tool]["properties"][name]
        assert "maximum" in bounds, (tool, name)
        for value, refused in ((bounds["maximum"], False), (bounds["maximum"] + 1, True)):
            request_id += 1
            arguments = {**others, name: value}
            admitted = jsonschema.Draft202012Validator(schemas[tool]).is_valid(arguments)
            assert admitted is not refused, (tool, name, value)
            lines.append(_request(request_id, "tools/call", {"name": tool, "arguments": arguments}))
            expected[request_id] = name if refused else None

    server = _start(tmp_path / "m.db", "--user-id", "ana")
    out, err = server.communicate(b"".join(lines), timeout=120)
    assert server.returncode == 0, err.decode()
    by_id = {r["id"]: r["result"] for r in (json.loads(line) for line in out.splitlines())}
    for key, field in expected.items():
        result = by_id[key]
        if field is None:
            assert result["isError"] is False, (key, result)
        else:
            assert result["isError"] is True and f"field: {field}" in result["content"][0]["text"], result
