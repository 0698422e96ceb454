"""The tools' input schemas as a client reads them (the official SDK, over stdio, from a real
``memoryd mcp``): valid JSON Schema, and every call they admit is taken, numbers a host hands over
as doubles (``2.0`` for ``2``, as JSON Schema's ``integer`` allows) included."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

pytestmark = pytest.mark.slow


def _server(store: Path) -> StdioServerParameters:
    env = {"MEMORYD_STORAGE__PATH": str(store), "HF_HUB_OFFLINE": "1", "PATH": os.environ["PATH"]}
    return StdioServerParameters(
        command=sys.executable, args=["-m", "memoryd", "mcp", "--user-id", "ana"], env=env
    )


async def test_whole_numbers_sent_as_floats_are_the_integers_the_schema_admits(tmp_path: Path) -> None:
    async with Client(_server(tmp_path / "m.db")) as client:
        schemas = {tool.name: tool.input_schema for tool in (await client.list_tools()).tools}
        for schema in schemas.values():
            jsonschema.Draft202012Validator.check_schema(schema)
            assert schema["type"] == "object" and set(schema["required"]) <= set(schema["properties"])
        for text in ("I keep bees on the roof.", "My brother lives in Lyon."):
            assert not (await client.call_tool("add_memory", {"messages": text})).is_error

        calls: list[tuple[str, dict[str, Any]]] = [
            ("search_memories", {"query": "bees", "limit": 1.0}),
            ("list_memories", {"limit": 2.0, "offset": 0.0}),
            ("get_context", {"query": "Where does my brother live?", "token_budget": 500.0}),
        ]
        for name, arguments in calls:
            jsonschema.validate(arguments, schemas[name], cls=jsonschema.Draft202012Validator)
            result = await client.call_tool(name, arguments)
            assert not result.is_error, (name, result.content)
            assert result.structured_content is not None
        found = await client.call_tool("search_memories", {"query": "bees", "limit": 1.0})
        assert found.structured_content is not None
        assert [hit["memory"] for hit in found.structured_content["results"]] == ["I keep bees on the roof."]
        listed = await client.call_tool("list_memories", {"limit": 2.0, "offset": 1.0})
        assert listed.structured_content is not None
        assert listed.structured_content["total"] == 2 and len(listed.structured_content["results"]) == 1

        fraction = await client.call_tool("search_memories", {"query": "bees", "limit": 1.5})
        assert fraction.is_error  # not a whole number: no integer, refused naming the field
        assert "field: limit" in fraction.content[0].text  # type: ignore[union-attr]
