"""The official MCP client SDK (the ``mcp`` package) connects to memoryd over stdio and over HTTP:
its connect (a ``server/discover`` probe, then the ``initialize`` handshake), tool listing and calls."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import make_settings, running_server

pytestmark = pytest.mark.slow


async def _use(client: Client, scope: dict[str, str]) -> None:
    names = {tool.name for tool in (await client.list_tools()).tools}
    assert {"add_memory", "search_memories", "get_context"} <= names
    added = await client.call_tool(
        "add_memory", {**scope, "messages": "My daughter Lea starts school in September."}
    )
    assert not added.is_error and added.structured_content is not None
    assert added.structured_content["results"][0]["event"] == "ADD"
    found = await client.call_tool("search_memories", {**scope, "query": "When does Lea start school?"})
    assert not found.is_error and found.structured_content is not None
    assert found.structured_content["results"][0]["memory"] == "My daughter Lea starts school in September."
    wrong = await client.call_tool("get_memory", {**scope, "memory_id": "no-such-id"})
    assert wrong.is_error


async def test_the_sdk_over_stdio(tmp_path: Path) -> None:
    env = {"MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"), "HF_HUB_OFFLINE": "1", "PATH": os.environ["PATH"]}
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "memoryd", "mcp", "--user-id", "ana"], env=env
    )
    async with Client(server) as client:
        await _use(client, {})


async def test_the_sdk_over_http(tmp_path: Path, embedder: USEEmbedder) -> None:
    with running_server(make_settings(tmp_path / "m.db"), embedder) as running:
        async with Client(f"{running.url}/mcp") as client:
            await _use(client, {"user_id": "ana"})
