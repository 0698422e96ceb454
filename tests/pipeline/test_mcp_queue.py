"""``POST /mcp``'s add_memory with the async pipeline on: queued like ``POST /v1/memories``, then
processed by a worker and found by the MCP search."""

from __future__ import annotations

import httpx

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import running_server
from tests.pipeline.helpers import burst


def _call(tool: str, **arguments: object) -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }


async def test_mcp_adds_are_queued_then_searchable(psettings: Settings, embedder: USEEmbedder) -> None:
    headers = {"MCP-Protocol-Version": "2025-06-18"}
    with running_server(psettings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        queued = c.post(
            "/mcp", json=_call("add_memory", user_id="ana", messages="I keep bees."), headers=headers
        )
        result = queued.json()["result"]["structuredContent"]
        assert result["status"] == "queued" and result["pipeline"] == "queued"
        assert c.get(f"/v1/events/{result['event_id']}").json()["status"] == "queued"
        report = await burst(psettings, embedder)
        assert report.processed == 1
        found = c.post("/mcp", json=_call("search_memories", user_id="ana", query="bees"), headers=headers)
        assert found.json()["result"]["structuredContent"]["results"][0]["memory"] == "I keep bees."
