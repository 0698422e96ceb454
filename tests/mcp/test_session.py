"""The MCP server's protocol and tools, driven in-process on a real store (see test_stdio for
the transport in a real subprocess)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory, InvalidInputError, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.mcp import PROTOCOL_VERSIONS, McpSession


class Client:
    """Sends lines to a session and collects what it answers, by id."""

    def __init__(self, memory: AsyncMemory, **bound: str) -> None:
        self.sent: list[dict[str, Any]] = []
        self.session = McpSession(memory, self._got, **bound)
        self._next = 0

    async def _got(self, message: Any) -> None:
        json.dumps(message, allow_nan=False)  # every answer is plain JSON
        self.sent.append(message)

    async def line(self, raw: str | bytes) -> None:
        await self.session.receive(raw)

    async def post(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Send a request without waiting; returns its id."""
        self._next += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next, "method": method}
        if params is not None:
            message["params"] = params
        await self.line(json.dumps(message))
        return self._next

    async def answer(self, request_id: Any) -> dict[str, Any]:
        await self.session.drain()
        found = [m for m in self.sent if isinstance(m, dict) and m.get("id") == request_id]
        assert len(found) == 1, (request_id, self.sent)
        return found[0]

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.answer(await self.post(method, params))

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        reply = await self.request("tools/call", {"name": tool, "arguments": arguments})
        assert "result" in reply, reply
        return dict(reply["result"])


def payload(result: dict[str, Any]) -> Any:
    assert result["isError"] is False, result
    return json.loads(result["content"][0]["text"])


def error_text(result: dict[str, Any]) -> str:
    assert result["isError"] is True, result
    return str(result["content"][0]["text"])


async def test_initialize_negotiates_the_version_and_lists_the_tools(amem: AsyncMemory) -> None:
    client = Client(amem)
    reply = await client.request("initialize", {"protocolVersion": "2025-03-26", "capabilities": {}})
    assert reply["result"]["protocolVersion"] == "2025-03-26"
    assert reply["result"]["capabilities"] == {"tools": {"listChanged": False}}
    assert reply["result"]["serverInfo"]["name"] == "memoryd"
    newer = await Client(amem).request("initialize", {"protocolVersion": "2099-01-01"})
    assert newer["result"]["protocolVersion"] == PROTOCOL_VERSIONS[0]

    tools = (await client.request("tools/list"))["result"]["tools"]
    names = {t["name"] for t in tools}
    assert names == {
        "add_memory", "search_memories", "get_context", "list_memories",
        "get_memory", "update_memory", "delete_memory", "memory_history",
    }  # fmt: skip
    search = next(t for t in tools if t["name"] == "search_memories")
    assert search["inputSchema"]["required"] == ["query"]
    assert {"user_id", "agent_id", "run_id"} <= set(search["inputSchema"]["properties"])
    assert search["annotations"]["readOnlyHint"] is True
    delete = next(t for t in tools if t["name"] == "delete_memory")
    assert delete["annotations"]["destructiveHint"] is True
    assert (await client.request("ping"))["result"] == {}
    # an edited turn takes what only its old text stated with it: update deletes too
    hints = {t["name"]: t["annotations"]["destructiveHint"] for t in tools if not t["annotations"]["readOnlyHint"]}
    assert hints == {"add_memory": False, "update_memory": True, "delete_memory": True}  # fast mode: adds add


async def test_an_edit_that_deletes_is_announced_and_fine_mode_adds_say_they_may(
    amem: AsyncMemory, tmp_path: Path
) -> None:
    client = Client(amem, user_id="ana")
    added = payload(await client.call("add_memory", messages="I live in Lisbon"))
    episode = next(r for r in added["results"] if r["kind"] == "episode")
    home = next(r for r in added["results"] if r["kind"] == "profile")
    edited = payload(await client.call("update_memory", memory_id=episode["id"], text="I like cheese"))
    assert [d["event"] for d in edited["derived"] if d["id"] == home["id"]] == ["DELETE"]  # what the hint said
    llm = {"provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": "k"}
    fine = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "f.db")}, "llm": llm})
    async with AsyncMemory(fine, embedder=amem.embedder) as mem:
        tools = (await Client(mem).request("tools/list"))["result"]["tools"]
    add = next(t for t in tools if t["name"] == "add_memory")
    assert add["annotations"]["destructiveHint"] is True  # fine mode may update or delete what is stored


def test_a_server_bound_to_an_empty_id_is_refused() -> None:
    from memoryd.mcp.tools import bound_scope

    for blank in ("", "   "):
        with pytest.raises(InvalidInputError) as refused:
            bound_scope(blank, None, None)
        assert refused.value.field == "user_id"


async def test_a_bound_server_hides_its_scope_and_refuses_another(amem: AsyncMemory) -> None:
    await amem.add("Bob's locker code is 4711", user_id="bob")
    bobs = (await amem.get_all(user_id="bob")).items[0]
    client = Client(amem, user_id="alice")
    tools = (await client.request("tools/list"))["result"]["tools"]
    for tool in tools:
        assert "user_id" not in tool["inputSchema"]["properties"], tool["name"]
        assert "run_id" in tool["inputSchema"]["properties"], tool["name"]  # not bound: still offered

    assert "bound to user_id='alice'" in error_text(
        await client.call("search_memories", query="x", user_id="bob")
    )
    assert payload(await client.call("search_memories", query="locker code"))["results"] == []
    unknown = error_text(await client.call("search_memories", query="x", top_k=3))
    assert "allowed:" in unknown and "user_id" not in unknown  # what tools/list offers, no more
    for tool in ("get_memory", "memory_history", "delete_memory"):
        assert "not_found" in error_text(await client.call(tool, memory_id=bobs.id)), tool
    assert "not_found" in error_text(await client.call("update_memory", memory_id=bobs.id, text="hacked"))
    assert (await amem.get(bobs.id)).text == "Bob's locker code is 4711"  # untouched


async def test_add_then_search_sent_together_finds_what_was_added(amem: AsyncMemory) -> None:
    client = Client(amem)
    await client.request("initialize", {"protocolVersion": "2025-06-18"})
    added = await client.post(
        "tools/call",
        {"name": "add_memory", "arguments": {"user_id": "ana", "messages": [
            {"role": "user", "content": "I adopted a grey cat named Pixel last week."},
            {"role": "assistant", "content": "Congratulations on Pixel!"},
        ]}},
    )  # fmt: skip
    found = await client.post(
        "tools/call", {"name": "search_memories", "arguments": {"user_id": "ana", "query": "pet cat name"}}
    )  # sent before the add was answered
    add_result = (await client.answer(added))["result"]
    events = [r["event"] for r in payload(add_result)["results"]]
    assert events[:2] == ["ADD", "ADD"]
    assert add_result["structuredContent"]["results"][0]["event"] == "ADD"  # 2025-06-18: structured too
    hits = payload((await client.answer(found))["result"])["results"]
    assert hits and "Pixel" in hits[0]["memory"] and hits[0]["user_id"] == "ana"
    assert hits[0]["role"] == "user" and "hash" not in hits[0]

    memory_id = hits[0]["id"]
    updated = payload(await client.call("update_memory", user_id="ana", memory_id=memory_id,
                                        text="I adopted a grey cat named Pixel in May."))  # fmt: skip
    assert updated["memory"].endswith("in May.") and updated["event"] == "UPDATE"
    again = payload(await client.call("update_memory", user_id="ana", memory_id=memory_id,
                                      text="I adopted a grey cat named Pixel in May."))  # fmt: skip
    assert again["event"] == "NOOP"  # an agent can tell a correction that changed nothing
    history = payload(await client.call("memory_history", user_id="ana", memory_id=memory_id))["history"]
    assert [h["event"] for h in history] == ["ADD", "UPDATE", "NOOP"]
    listed = payload(await client.call("list_memories", user_id="ana", limit=10))
    assert listed["total"] >= 2
    context = await client.call("get_context", user_id="ana", query="what is my cat called?")
    assert "Pixel" in context["content"][0]["text"]  # the prompt-ready block itself
    assert context["structuredContent"]["ids"]
    gone = payload(await client.call("delete_memory", user_id="ana", memory_id=memory_id))
    assert (gone["deleted"], gone["id"], gone["memory"]["id"]) == (1, memory_id, memory_id)
    assert "not_found" in error_text(await client.call("get_memory", user_id="ana", memory_id=memory_id))


async def test_deleting_a_turn_lists_what_went_with_it(amem: AsyncMemory) -> None:
    client = Client(amem)
    added = payload(await client.call("add_memory", user_id="ana", messages="I love sushi"))["results"]
    turn = next(r["id"] for r in added if r["kind"] == "episode")
    gone = payload(await client.call("delete_memory", user_id="ana", memory_id=turn))
    assert (gone["deleted"], gone["id"]) == (2, turn)  # counted as DELETE /v1/memories/{id} counts
    assert [(m["kind"], m["memory"]) for m in gone["also_deleted"]] == [("preference", "The user loves sushi.")]
    assert payload(await client.call("list_memories", user_id="ana"))["total"] == 0


async def test_editing_a_turn_lists_what_the_rules_read_in_it_again(amem: AsyncMemory) -> None:
    client = Client(amem)
    added = payload(await client.call("add_memory", user_id="ana", messages="I love sushi"))["results"]
    turn = next(r["id"] for r in added if r["kind"] == "episode")
    edited = payload(await client.call("update_memory", user_id="ana", memory_id=turn, text="I love ramen"))
    assert edited["event"] == "UPDATE" and edited["memory"] == "I love ramen"
    assert [(r["event"], r["kind"], r["memory"]) for r in edited["derived"]] == [
        ("ADD", "preference", "The user loves ramen."),
        ("DELETE", "preference", "The user loves sushi."),
    ]
    listed = payload(await client.call("list_memories", user_id="ana", filters={"kind": "preference"}))
    assert [m["memory"] for m in listed["results"]] == ["The user loves ramen."]


async def test_search_and_list_read_the_past_as_of_a_time(amem: AsyncMemory) -> None:
    client = Client(amem)
    await client.call("add_memory", user_id="ana", messages="I live in Lisbon", timestamp="2026-01-10T10:00:00Z")
    await client.call("add_memory", user_id="ana", messages="I live in Porto", timestamp="2026-03-10T10:00:00Z")
    homes = {"kind": "profile"}
    then = payload(await client.call("list_memories", user_id="ana", filters=homes, as_of="2026-02-01"))
    assert [m["memory"] for m in then["results"]] == ["The user lives in Lisbon."]
    now = payload(await client.call("list_memories", user_id="ana", filters=homes))
    assert [m["memory"] for m in now["results"]] == ["The user lives in Porto."]
    every = payload(await client.call("list_memories", user_id="ana", filters=homes, include_expired=True))
    assert {m["memory"] for m in every["results"]} == {"The user lives in Lisbon.", "The user lives in Porto."}
    found = payload(
        await client.call("search_memories", user_id="ana", query="where do I live", filters=homes, as_of=1769904000)
    )  # 2026-02-01 in seconds
    assert [m["memory"] for m in found["results"]] == ["The user lives in Lisbon."]


async def test_older_revisions_get_text_content_only(amem: AsyncMemory) -> None:
    client = Client(amem)
    await client.request("initialize", {"protocolVersion": "2024-11-05"})
    result = await client.call("add_memory", user_id="u", messages="I live in Porto.")
    assert "structuredContent" not in result
    assert payload(result)["results"][0]["event"] == "ADD"


async def test_bad_calls_are_tool_errors_naming_the_field_and_a_call_not_of_its_shape_a_protocol_error(amem: AsyncMemory) -> None:
    client = Client(amem)
    assert "user_id" in error_text(await client.call("search_memories", query="anything"))  # no scope
    assert "field: limit" in error_text(await client.call("list_memories", user_id="u", limit=0))
    unknown = error_text(await client.call("search_memories", user_id="u", query="x", top_k=3))
    assert "'top_k'" in unknown and "field: top_k" in unknown
    assert "needs 'query'" in error_text(await client.call("search_memories", user_id="u"))
    assert "field: messages" in error_text(await client.call("add_memory", user_id="u", messages=""))
    reply = await client.request("tools/call", {"name": "search_memories", "arguments": ["x"]})
    assert reply["error"]["code"] == -32602 and "params.arguments, an object" in reply["error"]["message"]
    assert (await amem.get_all(user_id="u")).total == 0  # nothing stored


async def test_protocol_errors_are_json_rpc_errors(amem: AsyncMemory) -> None:
    client = Client(amem)
    await client.line("this is not json")
    await client.line(b'{"jsonrpc": "2.0", "id": 9, "method": "ping", "params": {"x": "\xff"}}')
    await client.line('{"id": 77, "method": "ping"}')  # no "jsonrpc": "2.0"
    await client.line("[]")
    assert [m["error"]["code"] for m in client.sent] == [-32700, -32700, -32600, -32600]
    assert client.sent[2]["id"] == 77 and client.sent[0]["id"] is None
    assert (await client.request("resources/list"))["error"]["code"] == -32601
    unknown_tool = await client.request("tools/call", {"name": "drop_tables", "arguments": {}})
    assert unknown_tool["error"]["code"] == -32602 and "search_memories" in unknown_tool["error"]["message"]
    assert (await client.request("tools/call", None))["error"]["code"] == -32602  # no name

    before = len(client.sent)
    await client.line('{"jsonrpc": "2.0", "method": "notifications/initialized"}')
    await client.session.drain()
    assert len(client.sent) == before  # notifications are not answered

    client.session.version = "2025-03-26"  # the last revision with batches (2025-06-18 removed them)
    await client.line(json.dumps([
        {"jsonrpc": "2.0", "id": "a", "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        "not a message",
        {"jsonrpc": "2.0", "id": "b", "method": "tools/call", "params": {"name": "list_memories",
                                                                           "arguments": {"user_id": "x"}}},
    ]))  # fmt: skip
    await client.line(json.dumps([{"jsonrpc": "2.0", "method": "notifications/initialized"}]))
    await client.session.drain()
    assert len(client.sent) == before + 1  # one array for the batch; none for notifications only
    batch = client.sent[-1]
    assert isinstance(batch, list) and len(batch) == 3
    assert {m["id"] for m in batch} == {"a", "b", None}
    assert next(m for m in batch if m["id"] == "b")["result"]["isError"] is False


async def test_a_cancelled_write_still_stores_and_is_answered(amem: AsyncMemory) -> None:
    client = Client(amem)
    request_id = await client.post(
        "tools/call", {"name": "add_memory", "arguments": {"user_id": "c", "messages": "I speak Basque."}}
    )
    await client.line(json.dumps(
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": request_id}}
    ))  # fmt: skip
    await client.session.drain()
    (answer,) = [m for m in client.sent if m.get("id") == request_id]  # the client learns of the write
    assert answer["result"]["isError"] is False
    assert [m.text for m in (await amem.get_all(user_id="c")).items] == ["I speak Basque."]


async def test_a_cancelled_search_stops(amem: AsyncMemory) -> None:
    client = Client(amem)
    started = asyncio.Event()
    release = asyncio.Event()
    tool = client.session.tools["search_memories"]

    async def slow(memory: AsyncMemory, args: dict[str, Any]) -> Any:
        started.set()
        await release.wait()
        return {"results": []}

    object.__setattr__(tool, "handler", slow)  # a search that takes as long as the test wants
    request_id = await client.post("tools/call", {"name": "search_memories", "arguments": {"user_id": "c",
                                                                                         "query": "x"}})  # fmt: skip
    await started.wait()
    await client.line(json.dumps(
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": request_id}}
    ))  # fmt: skip
    await asyncio.wait_for(client.session.drain(), 5)  # returns although the search never finished
    assert not release.is_set() and not client.sent


@pytest.mark.parametrize("bad_id", [None, True, 1.5, {"x": 1}])
async def test_request_ids_must_be_strings_or_integers(amem: AsyncMemory, bad_id: Any) -> None:
    client = Client(amem)
    await client.line(json.dumps({"jsonrpc": "2.0", "id": bad_id, "method": "ping"}))
    await client.session.drain()
    assert client.sent[0]["error"]["code"] == -32600 and client.sent[0]["id"] is None


async def test_json_nested_too_deep_is_a_parse_error(amem: AsyncMemory) -> None:
    client = Client(amem)
    await client.line("[" * 100_000)  # json.loads: RecursionError, not a JSONDecodeError
    metadata = '{"a": ' * 3000 + "1" + "}" * 3000
    await client.line('{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add_memory", '
                      f'"arguments": {{"user_id": "u", "messages": "x", "metadata": {metadata}}}}}}}')  # fmt: skip
    assert [m["error"]["code"] for m in client.sent] == [-32700, -32700]
    assert (await client.request("ping"))["result"] == {}  # the session goes on


async def test_a_message_with_an_id_but_no_method_is_an_invalid_request(amem: AsyncMemory) -> None:
    client = Client(amem)
    await client.line('{"jsonrpc": "2.0", "id": 6}')  # neither a request nor a response
    await client.line('{"jsonrpc": "2.0", "id": 5, "result": {}}')  # a response: nothing to answer
    await client.session.drain()
    assert client.sent == [
        {"jsonrpc": "2.0", "id": 6, "error": {"code": -32600, "message": "a request needs a method"}}
    ]


async def test_the_listed_limits_are_those_of_the_settings(tmp_path: Path, embedder: USEEmbedder) -> None:
    overrides = {"storage": {"path": str(tmp_path / "m.db")}, "limits": {"max_limit": 50},
                 "search": {"default_limit": 5}}  # fmt: skip
    async with AsyncMemory(load_settings(env={}, overrides=overrides), embedder=embedder) as memory:
        tools = (await Client(memory).request("tools/list"))["result"]["tools"]
        limits = {
            t["name"]: t["inputSchema"]["properties"]["limit"] for t in tools if t["name"].endswith("ies")
        }
        assert limits["list_memories"] == {"type": "integer", "minimum": 1, "maximum": 50, "default": 50}
        assert limits["search_memories"]["default"] == 5
        await memory.add("I live in Lyon.", user_id="u")
        listed = payload(await Client(memory).call("list_memories", user_id="u"))
        assert listed["limit"] == 50  # what the listing says a call without a limit gets


async def test_a_flag_that_is_not_a_boolean_is_refused_naming_it(amem: AsyncMemory) -> None:
    client = Client(amem)
    await client.call("add_memory", user_id="ana", messages="I live in Lisbon", timestamp="2026-01-10T10:00:00Z")
    await client.call("add_memory", user_id="ana", messages="I live in Porto", timestamp="2026-03-10T10:00:00Z")
    refused = await client.call("list_memories", user_id="ana", include_expired="false")  # "false" is truthy
    assert refused["isError"] is True and "(field: include_expired)" in refused["content"][0]["text"]
    with pytest.raises(InvalidInputError) as bad:
        await amem.get_all(user_id="ana", include_expired="no")  # type: ignore[arg-type]
    assert bad.value.field == "include_expired"
