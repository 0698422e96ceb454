"""A ``tools/call`` without a tool's name was answered "unknown tool: None" (or the repr of whatever
stood there: 5, a list), as if a tool called None had been asked for. It is now a -32602 error saying
that ``params.name`` is needed, still listing the tools."""

from __future__ import annotations

from typing import Any

import pytest

from memoryd import AsyncMemory
from tests.mcp.test_session import Client


@pytest.mark.parametrize("params", [None, {}, {"arguments": {}}, {"name": 5}, {"name": ["search_memories"]}])
async def test_a_call_without_a_tools_name_says_the_name_is_needed(amem: AsyncMemory, params: Any) -> None:
    client = Client(amem)
    error = (await client.request("tools/call", params))["error"]
    assert error["code"] == -32602
    assert error["message"].startswith("tools/call needs params.name, a string; tools: add_memory"), error
    assert "unknown tool" not in error["message"]


async def test_an_unknown_name_is_still_named(amem: AsyncMemory) -> None:
    error = (await Client(amem).request("tools/call", {"name": "drop_tables"}))["error"]
    assert error["code"] == -32602 and error["message"].startswith("unknown tool: 'drop_tables'; tools: ")
