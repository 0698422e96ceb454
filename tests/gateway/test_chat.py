"""The official openai SDK (sync, async, streaming) through the gateway to an OpenAI-shaped upstream."""

from __future__ import annotations

import json

import openai
import pytest

from memoryd.gateway.inject import FENCE_CLOSE, FENCE_OPEN, PREAMBLE
from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, add_memory, target

SYSTEM = {"role": "system", "content": "You are a terse travel assistant."}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def test_sync_sdk_gets_memory_injected_and_every_field_passed_through(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.reply_text("Lisbon is lovely in May.", usage=(120, 9))
    with gateway([[target(fake_llm, "up-model")]]) as gw:
        add_memory(gw, "I moved to Lisbon last spring", "ana")
        raw = gw.client().chat.completions.with_raw_response.create(
            model="up-model",
            messages=[SYSTEM, {"role": "user", "content": "Where do I live now?"}],
            user="ana",
            temperature=0.3,
            seed=7,
            tools=TOOLS,
            tool_choice="auto",
            response_format={"type": "text"},
            extra_body={"top_k": 5, "vendor_flag": {"x": 1}},
        )
        answer = raw.parse()
    assert answer.choices[0].message.content == "Lisbon is lovely in May."
    assert answer.usage is not None and answer.usage.prompt_tokens == 120
    assert raw.headers["x-memoryd-memory"] == "injected"
    assert int(raw.headers["x-memoryd-memories-injected"]) >= 1
    assert int(raw.headers["x-memoryd-memory-tokens"]) > 0
    assert float(raw.headers["x-memoryd-memory-ms"]) >= 0
    assert raw.headers["x-memoryd-target"] == gw.app.state.gateway.router.targets[0].label
    assert "x-degraded-mode" not in raw.headers

    sent = fake_llm.last
    assert sent.path == "v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-up-up-model"  # the upstream's key, not the client's
    assert gw.key not in json.dumps(sent.headers)
    body = dict(sent.json)
    messages = body.pop("messages")
    assert body == {
        "model": "up-model",
        "user": "ana",
        "temperature": 0.3,
        "seed": 7,
        "tools": TOOLS,
        "tool_choice": "auto",
        "response_format": {"type": "text"},
        "top_k": 5,
        "vendor_flag": {"x": 1},
    }
    assert messages[0] == SYSTEM  # the app's system prompt first, untouched
    assert messages[2] == {"role": "user", "content": "Where do I live now?"}
    assert len(messages) == 3 and messages[1]["role"] == "system"
    block = messages[1]["content"]
    assert block.startswith(PREAMBLE) and FENCE_OPEN in block and block.rstrip().endswith(FENCE_CLOSE)
    inside = block.split(FENCE_OPEN, 1)[1].split(FENCE_CLOSE, 1)[0]
    assert "I moved to Lisbon last spring" in inside


def test_merge_mode_appends_the_block_to_the_system_prompt(gateway: GatewayFactory, fake_llm: Script) -> None:
    with gateway([[target(fake_llm, "m")]], gateway={"inject_mode": "merge"}) as gw:
        add_memory(gw, "I am allergic to peanuts", "bo")
        gw.client().chat.completions.create(
            model="m", messages=[SYSTEM, {"role": "user", "content": "Any snack ideas?"}], user="bo"
        )
    messages = fake_llm.last.json["messages"]
    assert len(messages) == 2
    assert messages[0]["role"] == "system"
    assert messages[0]["content"].startswith(SYSTEM["content"] + "\n\n" + PREAMBLE)
    assert "allergic to peanuts" in messages[0]["content"]


async def test_async_sdk_and_headers_name_the_user_and_session(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.default_text("noted")
    with gateway([[target(fake_llm, "m")]]) as gw:
        client = gw.async_client(default_headers={"X-Memoryd-User-Id": "cy", "X-Memoryd-Session-Id": "s1"})
        async with client:
            first = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "My sister is called Dana."}]
            )
            assert first.choices[0].message.content == "noted"
        stored = gw.wait_for_memories("cy", 2)
    assert [m["text"] for m in sorted(stored, key=lambda m: m["role"], reverse=True)] == [
        "My sister is called Dana.",
        "noted",
    ]
    assert {m["run_id"] for m in stored} == {"s1"}
    assert {m["metadata"]["source"] for m in stored} == {"gateway"}


def test_stream_is_framed_like_openai_and_written_back_after_the_last_chunk(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.reply_text("Your dog is called Biscuit, a golden retriever.", usage=(50, 12))
    with gateway([[target(fake_llm, "m")]]) as gw:
        add_memory(gw, "I adopted a golden retriever named Biscuit", "ana")
        with (
            gw.http() as http,
            http.stream(
                "POST",
                "/v1/chat/completions",
                json={
                    "model": "m",
                    "stream": True,
                    "user": "ana",
                    "messages": [{"role": "user", "content": "dog name?"}],
                },
            ) as r,
        ):
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["x-memoryd-memory"] == "injected"
            raw = b"".join(r.iter_bytes())
        events = raw.split(b"\n\n")
        assert events[-1] == b"" and events[-2] == b"data: [DONE]"
        chunks = [json.loads(e.removeprefix(b"data: ")) for e in events[:-2]]
        assert all(e.startswith(b"data: {") for e in events[:-2])
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == (
            "Your dog is called Biscuit, a golden retriever."
        )
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
        assert all(c["choices"] for c in chunks)  # the usage chunk memoryd asked for is not shown
        sent = fake_llm.last.json
        assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
        stored = gw.wait_for_memories("ana", 3)
        assert "Your dog is called Biscuit, a golden retriever." in {m["text"] for m in stored}
        usage = gw.get("/v1/usage", user_id="ana")
        assert (usage["totals"]["prompt_tokens"], usage["totals"]["completion_tokens"]) == (50, 12)


def test_sync_sdk_stream_with_usage_asked_for(gateway: GatewayFactory, fake_llm: Script) -> None:
    fake_llm.reply_text("one two three", usage=(9, 3))
    with gateway([[target(fake_llm, "m")]]) as gw:
        stream = gw.client().chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "count"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (9, 3)


async def test_async_sdk_stream(gateway: GatewayFactory, fake_llm: Script) -> None:
    fake_llm.reply_text("streamed asynchronously")
    with gateway([[target(fake_llm, "m")]]) as gw:
        async with gw.async_client() as client:
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == "streamed asynchronously"


def test_tool_calls_round_trip(gateway: GatewayFactory, fake_llm: Script) -> None:
    call = {"id": "call_1", "name": "get_weather", "arguments": {"city": "Porto"}}
    fake_llm.reply_text("", tool_calls=[call])
    fake_llm.reply_text("It is sunny in Porto.")
    fake_llm.reply_text("", tool_calls=[call])
    with gateway([[target(fake_llm, "m")]]) as gw:
        client = gw.client()
        question = {"role": "user", "content": "Weather in Porto?"}
        first = client.chat.completions.create(model="m", messages=[question], tools=TOOLS, user="dee")
        calls = first.choices[0].message.tool_calls
        assert first.choices[0].finish_reason == "tool_calls" and calls is not None
        assert calls[0].function.name == "get_weather" and json.loads(calls[0].function.arguments) == {
            "city": "Porto"
        }
        history = [
            question,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": calls[0].id, "content": '{"sky": "sunny"}'},
        ]
        final = client.chat.completions.create(model="m", messages=history, tools=TOOLS, user="dee")
        assert final.choices[0].message.content == "It is sunny in Porto."
        sent = fake_llm.last.json["messages"]
        assert sent[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
        assert sent[-1] == history[-1]
        stream = client.chat.completions.create(model="m", messages=[question], tools=TOOLS, stream=True)
        deltas = [c.choices[0].delta for c in stream if c.choices]
        streamed = [tc for d in deltas for tc in d.tool_calls or []]
        assert streamed[0].id == "call_1" and streamed[0].function is not None
        args = "".join(tc.function.arguments or "" for tc in streamed if tc.function)
        assert json.loads(args) == {"city": "Porto"}
        stored = gw.wait_for_memories("dee", 2)
    # Only the finished turn is remembered: the question and the final answer, not the tool call.
    assert sorted(m["text"] for m in stored) == ["It is sunny in Porto.", "Weather in Porto?"]


def test_no_user_is_a_plain_pass_through(gateway: GatewayFactory, fake_llm: Script) -> None:
    with gateway([[target(fake_llm, "m")]]) as gw:
        add_memory(gw, "a secret about ana", "ana")
        raw = gw.client().chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "secret?"}]
        )
        assert raw.headers["x-memoryd-memory"] == "passthrough"
        assert raw.headers["x-memoryd-memories-injected"] == "0"
        assert "x-memoryd-writeback" not in raw.headers
        assert fake_llm.last.json["messages"] == [{"role": "user", "content": "secret?"}]
        usage = gw.get("/v1/usage")
    assert [u["user_id"] for u in usage["users"]] == [None]


def test_session_from_metadata_is_memoryd_s_and_not_forwarded(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    with gateway([[target(fake_llm, "m")]]) as gw:
        gw.client().chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hello there"}],
            user="eve",
            metadata={"session_id": "chat-9", "app": "demo"},
        )
        stored = gw.wait_for_memories("eve", 2)
    assert fake_llm.last.json["metadata"] == {"app": "demo"}
    assert {m["run_id"] for m in stored} == {"chat-9"}


def test_header_user_wins_over_the_body_and_mem_os_header_works(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    with gateway([[target(fake_llm, "m")]]) as gw:
        add_memory(gw, "fay plays the cello", "fay")
        add_memory(gw, "gus plays the drums", "gus")
        client = gw.client(default_headers={"X-User-ID": "fay"})
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "what instrument do I play?"}], user="gus"
        )
    block = fake_llm.last.json["messages"][0]["content"]
    assert "cello" in block and "drums" not in block


def test_bad_requests_are_openai_errors(gateway: GatewayFactory, fake_llm: Script) -> None:
    with gateway([[target(fake_llm, "m")]], gateway={"unknown_model": "reject"}) as gw:
        client = gw.client()
        with pytest.raises(openai.BadRequestError) as bad:
            client.chat.completions.create(model="m", messages=[])
        assert bad.value.body["param"] == "messages"  # type: ignore[index]
        with pytest.raises(openai.NotFoundError) as missing:
            client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
        assert missing.value.code == "model_not_found"
        with gw.http() as http:
            r = http.post(
                "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
            )
            assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert fake_llm.requests == []


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_user_is_no_user_as_openai_reads_it(
    gateway: GatewayFactory, fake_llm: Script, blank: str
) -> None:
    # apps send user=request.user or "": OpenAI answers it, and so does memoryd, with no user's memory
    fake_llm.default_text("hi")
    with gateway([[target(fake_llm, "m")]]) as gw:
        ask = [{"role": "user", "content": "I like chess."}]
        answer = gw.client().chat.completions.create(model="m", messages=ask, user=blank)
    assert answer.choices[0].message.content == "hi"
    assert fake_llm.last.json["user"] == blank  # passed on as the app sent it


def test_a_request_naming_no_model_is_a_400_naming_the_field_when_unknown_models_are_refused(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    with gateway([[target(fake_llm, "m")]], gateway={"unknown_model": "reject"}) as gw, gw.http() as http:
        for body in ({}, {"model": ""}, {"model": None}):
            r = http.post(
                "/v1/chat/completions", json={**body, "messages": [{"role": "user", "content": "x"}]}
            )
            assert r.status_code == 400, r.text
            assert r.json()["error"]["param"] == "model"
            assert "None" not in r.json()["error"]["message"]
    assert fake_llm.requests == []


def test_a_body_nested_too_deeply_to_parse_is_a_400_not_a_500(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with gateway([[target(fake_llm, "m")]]) as gw, gw.http() as http:
        for raw in (
            deep,
            '{"model": "m", "messages": [{"role": "user", "content": "x"}], "x": ' + deep + "}",
        ):
            r = http.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
            assert r.status_code == 400, r.text
            assert r.json()["error"] == {
                "message": "the request body is nested too deeply",
                "type": "invalid_request_error",
                "param": "body",
                "code": None,
            }
    assert fake_llm.requests == []


def test_a_user_named_in_a_header_in_utf8_is_that_user(gateway: GatewayFactory, fake_llm: Script) -> None:
    fake_llm.default_text("noted")
    ask = {"model": "m", "messages": [{"role": "user", "content": "I like chess."}]}
    with gateway([[target(fake_llm, "m")]]) as gw, gw.http() as http:
        r = http.post("/v1/chat/completions", json=ask, headers={"X-Memoryd-User-Id": "josé".encode()})
        assert r.status_code == 200, r.text
        assert len(gw.wait_for_memories("josé", 2)) == 2  # not "josÃ©"
        latin = http.post(
            "/v1/chat/completions", json=ask, headers={"X-Memoryd-User-Id": "josé".encode("latin-1")}
        )
        assert latin.status_code == 400 and latin.json()["error"]["param"] == "X-Memoryd-User-Id"
        users = http.get("/v1/users").json()
    assert "josÃ©" not in json.dumps(users, ensure_ascii=False)
