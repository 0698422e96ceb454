"""Anthropic- and Gemini-shaped upstreams: requests translated from OpenAI's, answers translated back."""

from __future__ import annotations

import json

import openai
import pytest

from memoryd.gateway.inject import FENCE_OPEN
from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, add_memory, target

SYSTEM = {"role": "system", "content": "Be brief."}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Find a word",
            "parameters": {"type": "object", "properties": {"word": {"type": "string"}}},
        },
    }
]
CALL = {"id": "toolu_1", "name": "lookup", "arguments": {"word": "saudade"}}


def test_anthropic_request_answer_and_tools(gateway: GatewayFactory, fake_llm: Script) -> None:
    fake_llm.reply_text("Olá, Ana!", usage=(33, 4))
    fake_llm.reply_text("", tool_calls=[CALL])
    with gateway([[target(fake_llm, "claude-x", provider="anthropic")]]) as gw:
        add_memory(gw, "I speak Portuguese at home", "ana")
        client = gw.client()
        answer = client.chat.completions.create(
            model="claude-x",
            messages=[SYSTEM, {"role": "user", "content": "Greet me"}],
            user="ana",
            temperature=0.5,
            max_tokens=64,
            stop="END",
        )
        assert answer.choices[0].message.content == "Olá, Ana!"
        assert answer.choices[0].finish_reason == "stop"
        assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (
            33,
            4,
        )
        sent = fake_llm.last
        assert sent.path == "v1/messages"
        assert sent.headers["x-api-key"] == "sk-up-claude-x" and sent.headers["anthropic-version"]
        body = sent.json
        system = body.pop("system")
        assert system.startswith("Be brief.\n\n") and FENCE_OPEN in system and "Portuguese" in system
        assert body == {
            "model": "claude-x",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Greet me"}]}],
            "temperature": 0.5,
            "stop_sequences": ["END"],
            "metadata": {"user_id": "ana"},
        }
        history = [
            {"role": "user", "content": "define saudade"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "toolu_0", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_0", "content": "nothing found"},
        ]
        called = client.chat.completions.create(
            model="claude-x", messages=history, tools=TOOLS, tool_choice="required"
        )
    calls = called.choices[0].message.tool_calls
    assert called.choices[0].finish_reason == "tool_calls" and calls is not None
    assert calls[0].id == "toolu_1" and json.loads(calls[0].function.arguments) == {"word": "saudade"}
    body = fake_llm.last.json
    assert body["tools"] == [
        {"name": "lookup", "description": "Find a word", "input_schema": TOOLS[0]["function"]["parameters"]}
    ]
    assert body["tool_choice"] == {"type": "any"}
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "define saudade"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_0", "name": "lookup", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_0", "content": "nothing found"}],
        },
    ]


def test_anthropic_stream_becomes_openai_chunks(gateway: GatewayFactory, fake_llm: Script) -> None:
    fake_llm.reply_text("Three little words", usage=(20, 3))
    fake_llm.reply_text("", tool_calls=[CALL])
    with gateway([[target(fake_llm, "claude-x", provider="anthropic")]]) as gw:
        client = gw.client()
        chunks = list(
            client.chat.completions.create(
                model="claude-x",
                messages=[{"role": "user", "content": "say it"}],
                user="bo",
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        assert fake_llm.requests[-1].json["stream"] is True
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Three little words"
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
        stored = gw.wait_for_memories("bo", 2)
        assert "Three little words" in {m["text"] for m in stored}
        tool_chunks = list(
            client.chat.completions.create(
                model="claude-x", messages=[{"role": "user", "content": "define"}], tools=TOOLS, stream=True
            )
        )
    deltas = [tc for c in tool_chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert (
        deltas[0].id == "toolu_1" and deltas[0].function is not None and deltas[0].function.name == "lookup"
    )
    assert json.loads("".join(d.function.arguments or "" for d in deltas if d.function)) == {
        "word": "saudade"
    }
    assert [c.choices[0].finish_reason for c in tool_chunks if c.choices][-1] == "tool_calls"


def test_gemini_request_answer_tools_and_stream(gateway: GatewayFactory, fake_llm: Script) -> None:
    fake_llm.reply_text("Bom dia", usage=(14, 2))
    fake_llm.reply_text("", tool_calls=[CALL])
    fake_llm.reply_text("streaming from gemini", usage=(5, 3))
    with gateway([[target(fake_llm, "gemini-x", provider="gemini")]]) as gw:
        add_memory(gw, "I live in Coimbra", "cy")
        client = gw.client()
        answer = client.chat.completions.create(
            model="gemini-x",
            messages=[SYSTEM, {"role": "user", "content": "Morning!"}],
            user="cy",
            temperature=0.2,
            max_tokens=32,
            response_format={"type": "json_object"},
            n=2,  # dropped: Gemini would make (and bill) two candidates, and one choice is answered
        )
        assert [c.message.content for c in answer.choices] == ["Bom dia"]
        assert answer.usage is not None and answer.usage.prompt_tokens == 14
        sent = fake_llm.last
        assert sent.path == "v1beta/models/gemini-x:generateContent"
        assert sent.headers["x-goog-api-key"] == "sk-up-gemini-x"
        body = sent.json
        instruction = body.pop("systemInstruction")["parts"][0]["text"]
        assert instruction.startswith("Be brief.\n\n") and "Coimbra" in instruction
        assert body == {
            "contents": [{"role": "user", "parts": [{"text": "Morning!"}]}],
            "generationConfig": {
                "temperature": 0.2,
                "maxOutputTokens": 32,
                "responseMimeType": "application/json",
            },
        }
        called = client.chat.completions.create(
            model="gemini-x",
            messages=[{"role": "user", "content": "define"}],
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "lookup"}},
        )
        calls = called.choices[0].message.tool_calls
        assert calls is not None and calls[0].function.name == "lookup"
        assert json.loads(calls[0].function.arguments) == {"word": "saudade"}
        assert called.choices[0].finish_reason == "tool_calls"
        body = fake_llm.last.json
        assert body["tools"] == [
            {
                "functionDeclarations": [
                    {
                        "name": "lookup",
                        "description": "Find a word",
                        "parametersJsonSchema": TOOLS[0]["function"]["parameters"],
                    }
                ]
            }
        ]
        assert body["toolConfig"] == {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}
        }
        chunks = list(
            client.chat.completions.create(
                model="gemini-x",
                messages=[{"role": "user", "content": "stream please"}],
                user="cy",
                stream=True,
            )
        )
        sent = fake_llm.last
        assert sent.path == "v1beta/models/gemini-x:streamGenerateContent" and sent.query == {"alt": "sse"}
        assert (
            "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streaming from gemini"
        )
        assert chunks[-1].choices[0].finish_reason == "stop"
        stored = gw.wait_for_memories("cy", 5)
    assert {"Bom dia", "streaming from gemini"} <= {m["text"] for m in stored}


def test_gemini_tool_results_are_named_after_their_call(gateway: GatewayFactory, fake_llm: Script) -> None:
    with gateway([[target(fake_llm, "gemini-x", provider="gemini")]]) as gw:
        gw.client().chat.completions.create(
            model="gemini-x",
            messages=[
                {"role": "user", "content": "define saudade"},
                {
                    "role": "assistant",
                    "content": "Looking it up.",
                    "tool_calls": [
                        {
                            "id": "c9",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"word": "x"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c9", "content": '{"meaning": "longing"}'},
            ],
        )
    assert fake_llm.last.json["contents"] == [
        {"role": "user", "parts": [{"text": "define saudade"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Looking it up."},
                {"functionCall": {"name": "lookup", "args": {"word": "x"}}},
            ],
        },
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "lookup", "response": {"meaning": "longing"}}}],
        },
    ]


def test_sampling_fields_reach_anthropic_and_gemini_under_their_own_names(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    sampling = {"temperature": 0.5, "top_p": 0.9}
    with gateway(
        [
            [target(fake_llm, "claude-x", provider="anthropic")],
            [target(fake_llm, "gemini-x", provider="gemini")],
        ]
    ) as gw:
        client = gw.client()
        for model in ("claude-x", "gemini-x"):
            client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}], **sampling, extra_body={"top_k": 5}
            )
        claude, gemini = fake_llm.requests
    assert (claude.json["temperature"], claude.json["top_p"], claude.json["top_k"]) == (0.5, 0.9, 5)
    assert gemini.json["generationConfig"] == {"temperature": 0.5, "topP": 0.9, "topK": 5}


def test_a_broken_anthropic_stream_still_counts_the_prompt_it_used(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.push(Reply(text="one two three four", usage=(120, 9), stream_error_after=2))
    with gateway([[target(fake_llm, "claude-x", provider="anthropic")]]) as gw:
        with pytest.raises(openai.APIError):
            list(
                gw.client().chat.completions.create(
                    model="claude-x", messages=[{"role": "user", "content": "count"}], user="bo", stream=True
                )
            )
        totals = gw.get("/v1/usage", user_id="bo")["totals"]
    assert (totals["requests"], totals["prompt_tokens"]) == (1, 120)  # message_start reported it


def test_tool_call_text_nested_too_deeply_to_read_is_forwarded_as_text_not_a_500(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": deep}}
    messages = [
        {"role": "user", "content": "define"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": deep},
    ]
    with gateway(
        [
            [target(fake_llm, "claude-x", provider="anthropic")],
            [target(fake_llm, "gemini-x", provider="gemini")],
        ]
    ) as gw:
        for model in ("claude-x", "gemini-x"):
            answer = gw.client().chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
            assert answer.choices[0].message.content == "ok"
        claude, gemini = fake_llm.requests
    assert claude.json["messages"][1]["content"][0]["input"] == {"arguments": deep}
    assert gemini.json["contents"][1]["parts"][0]["functionCall"]["args"] == {"arguments": deep}
    assert gemini.json["contents"][2]["parts"][0]["functionResponse"]["response"] == {"content": deep}


def test_whitespace_only_stop_sequences_anthropic_refuses_are_not_sent(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    """OpenAI stops at "\\n"; Anthropic answers such a stop sequence with a 400 ("each stop sequence
    must contain non-whitespace"), which the gateway would relay as the request's fault."""
    with gateway([[target(fake_llm, "claude-x", provider="anthropic")]]) as gw:
        client = gw.client()
        for stop in (["\n\n", "END"], "\n"):
            answer = client.chat.completions.create(
                model="claude-x", messages=[{"role": "user", "content": "fruits, one per line"}], stop=stop
            )
            assert answer.choices[0].message.content == "ok"
        with_end, newline_only = fake_llm.requests
    assert with_end.json["stop_sequences"] == ["END"]
    assert "stop_sequences" not in newline_only.json
