"""A user API key calling an MCP tool over HTTP for another user was answered
"invalid_input: this server is bound to user_id='alice'": the server is bound to no one, the key
is, and the REST API answers the same call with a 404 naming ``user_id``. The tool now answers
``not_found`` naming ``user_id``, worded as REST's 404; a server bound by ``memoryd mcp
--user-id`` keeps its own wording (tests/mcp/test_session.py)."""

from __future__ import annotations

from pathlib import Path

import httpx

from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import error_of, make_settings, running_server
from tests.auth.conftest import bearer, new_key
from tests.mcp.test_http import HEADERS, call


def test_a_user_key_naming_another_user_is_not_found_as_on_rest(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = make_settings(tmp_path / "keys.db")
    service = bearer(new_key(settings, "service"))
    alice = {**HEADERS, **bearer(new_key(settings, "user", user_id="alice"))}
    with (
        running_server(settings, embedder) as running,
        httpx.Client(base_url=running.url, timeout=30) as client,
    ):
        stored = client.post("/mcp", json=call("add_memory", user_id="bob", messages="Bob's PIN is 5521."),
                             headers={**HEADERS, **service})  # fmt: skip
        assert stored.json()["result"]["isError"] is False, stored.text
        rest = error_of(client.get("/v1/memories", params={"user_id": "bob"}, headers=alice), 404)
        assert rest["field"] == "user_id", rest
        for tool, arguments in (
            ("search_memories", {"query": "PIN"}),
            ("list_memories", {}),
            ("add_memory", {"messages": "I am Bob now."}),
        ):
            answer = client.post("/mcp", json=call(tool, user_id="bob", **arguments), headers=alice)
            result = answer.json()["result"]
            assert result["isError"] is True, (tool, result)
            text = result["content"][0]["text"]
            assert text == f"{rest['code']}: {rest['message']} (field: user_id)", (tool, text)
            assert "bound to user_id" not in text and "this server" not in text, text
        # naming the key's own user is that user's call, as before
        own = client.post("/mcp", json=call("search_memories", user_id="alice", query="PIN"), headers=alice)
        assert own.json()["result"]["isError"] is False, own.text
        listed = client.get("/v1/memories", params={"user_id": "bob"}, headers=service).json()["results"]
        assert [m["memory"] for m in listed] == ["Bob's PIN is 5521."]  # nothing added as or for bob
