"""``POST /mcp``'s add_memory with the async pipeline on: queued like ``POST /v1/memories``, then
processed by a worker and found by the MCP search."""

from __future__ import annotations

from pathlib import Path

import httpx

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import running_server
from tests.pipeline.conftest import pipeline_settings
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


async def test_an_mcp_add_retried_with_its_event_id_is_stored_once(
    psettings: Settings, embedder: USEEmbedder
) -> None:
    headers = {"MCP-Protocol-Version": "2025-06-18"}
    with running_server(psettings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        listed = c.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers)
        add = next(t for t in listed.json()["result"]["tools"] if t["name"] == "add_memory")
        assert "event_id" in add["inputSchema"]["properties"]
        call = _call("add_memory", user_id="ana", messages="I keep bees.", event_id="chat-7:turn-3")
        first = c.post("/mcp", json=call, headers=headers).json()["result"]["structuredContent"]
        again = c.post("/mcp", json=call, headers=headers).json()["result"]["structuredContent"]
        assert first["event_id"] == again["event_id"] == "chat-7:turn-3"
        assert (await burst(psettings, embedder)).processed == 1
        assert c.get("/v1/memories", params={"user_id": "ana"}).json()["total"] == 1
        bad = c.post("/mcp", json=_call("add_memory", user_id="ana", messages="x", event_id="no spaces"),
                     headers=headers).json()["result"]  # fmt: skip
        assert bad["isError"] and "(field: event_id)" in bad["content"][0]["text"]


async def test_an_mcp_add_refused_with_redis_down_names_its_event_id(tmp_path: Path, embedder: USEEmbedder) -> None:
    """The error says to retry with the same event_id: the tool's answer must say which it was."""
    reject = pipeline_settings(tmp_path / "reject.db", "redis://127.0.0.1:1/0", "down:", on_unavailable="reject")
    headers = {"MCP-Protocol-Version": "2025-06-18"}
    with running_server(reject, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        call = _call("add_memory", user_id="ana", messages="I keep bees.", event_id="retry-me")
        result = c.post("/mcp", json=call, headers=headers).json()["result"]
        text = result["content"][0]["text"]
        assert result["isError"] and text.startswith("backend_unavailable:")
        assert "same event_id" in text and '"event_id": "retry-me"' in text


async def test_an_mcp_add_run_now_with_redis_down_answers_as_the_direct_one(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    """The sync fallback's answer is the add's, without each item's stored record (as add_memory's)."""
    fallback = pipeline_settings(tmp_path / "sync.db", "redis://127.0.0.1:1/0", "down:", on_unavailable="sync")
    headers = {"MCP-Protocol-Version": "2025-06-18"}
    with running_server(fallback, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        call = _call("add_memory", user_id="ana", messages="I love hiking in the alps")
        result = c.post("/mcp", json=call, headers=headers).json()["result"]["structuredContent"]
        assert result["pipeline"] == "bypassed"
        assert [(r["kind"], r["event"]) for r in result["results"]] == [("episode", "ADD"), ("preference", "ADD")]
        assert all("record" not in r and r["memory"] for r in result["results"])
