"""OpenAI clients in front of Anthropic and Gemini upstreams: a conversation the app opened with the
assistant's greeting, Anthropic's ``stop_reason: "refusal"`` as OpenAI's refusal, and an upstream
``base_url`` with a query string (an API gateway's ``?code=...``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, target

GREETED: list[Any] = [
    {"role": "system", "content": "Be brief."},
    {"role": "assistant", "content": "Hi! How can I help?"},
    {"role": "user", "content": "What is my name?"},
]


def test_an_anthropic_upstream_is_sent_a_user_turn_before_the_apps_greeting(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.reply_text("You have not told me.")
    with gateway([[target(fake_llm, "claude-x", provider="anthropic")]]) as gw:
        answer = gw.client().chat.completions.create(model="claude-x", messages=GREETED)
    assert answer.choices[0].message.content == "You have not told me."
    opening, *rest = fake_llm.last.json["messages"]
    assert opening["role"] == "user" and "assistant" in opening["content"][0]["text"]
    assert rest == [
        {"role": "assistant", "content": [{"type": "text", "text": "Hi! How can I help?"}]},
        {"role": "user", "content": [{"type": "text", "text": "What is my name?"}]},
    ]


def test_a_gemini_upstream_is_sent_a_user_turn_before_the_apps_greeting(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.reply_text("You have not told me.")
    with gateway([[target(fake_llm, "gemini-x", provider="gemini")]]) as gw:
        answer = gw.client().chat.completions.create(model="gemini-x", messages=GREETED)
    assert answer.choices[0].message.content == "You have not told me."
    opening, *rest = fake_llm.last.json["contents"]
    assert opening["role"] == "user" and "assistant" in opening["parts"][0]["text"]
    assert rest == [
        {"role": "model", "parts": [{"text": "Hi! How can I help?"}]},
        {"role": "user", "parts": [{"text": "What is my name?"}]},
    ]


@pytest.mark.parametrize(("model", "provider"), [("claude-x", "anthropic"), ("gemini-x", "gemini")])
def test_an_upstream_is_sent_one_user_turn_for_a_request_of_system_messages_alone(
    gateway: GatewayFactory, fake_llm: Script, model: str, provider: str
) -> None:
    fake_llm.reply_text("Bonjour.")
    only_system: list[Any] = [{"role": "system", "content": "Greet in French."}]
    with gateway([[target(fake_llm, model, provider=provider)]]) as gw:
        answer = gw.client().chat.completions.create(model=model, messages=only_system)
    assert answer.choices[0].message.content == "Bonjour."
    body = fake_llm.last.json
    [turn] = body["messages"] if provider == "anthropic" else body["contents"]
    text = turn["content"][0]["text"] if provider == "anthropic" else turn["parts"][0]["text"]
    assert turn["role"] == "user" and "instructions" in text


def test_an_anthropic_refusal_reaches_openai_clients_as_a_refusal(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    why = {"type": "refusal", "category": "bio", "explanation": "This conflicts with the usage policy."}
    fake_llm.reply_body(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [{"type": "text", "text": "Sure, step one is"}],
            "stop_reason": "refusal",
            "stop_details": why,
            "usage": {"input_tokens": 12, "output_tokens": 4},
        }
    )
    fake_llm.reply_text("Sure, step one is", finish_reason="refusal")
    with gateway([[target(fake_llm, "claude-x", provider="anthropic")]]) as gw:
        client = gw.client()
        answer = client.chat.completions.create(model="claude-x", messages=GREETED, user="ana")
        chunks = list(
            client.chat.completions.create(model="claude-x", messages=GREETED, stream=True, user="ana")
        )
        gw.writebacks()
        assert not [m for m in gw.memories("ana") if "step one" in m["text"]]  # refused: not remembered
    choice = answer.choices[0]
    assert choice.finish_reason == "content_filter"
    assert choice.message.refusal == "This conflicts with the usage policy."
    assert choice.message.content is None  # what the classifiers stopped is not the answer
    refusal = "".join(c.choices[0].delta.refusal or "" for c in chunks if c.choices)
    assert refusal and "declined" in refusal  # no explanation in the stream: said plainly
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "content_filter"


@pytest.mark.parametrize(
    ("provider", "path"),
    [
        ("custom", "v1/chat/completions"),
        ("anthropic", "v1/messages"),
        ("gemini", "v1beta/models/up-m:generateContent"),
    ],
)
def test_an_upstream_base_url_with_a_query_keeps_it_after_the_api_path(
    provider: str, path: str, gateway: GatewayFactory, fake_llm: Script
) -> None:
    up = target(fake_llm, "up-m", provider=provider)
    up["base_url"] += "?code=abc"
    fake_llm.default_text("ok")
    with gateway([[up]]) as gw:
        client = gw.client()
        answer = client.chat.completions.create(model="up-m", messages=GREETED[2:])
        assert answer.choices[0].message.content == "ok"
        assert (fake_llm.last.path, fake_llm.last.query) == (path, {"code": "abc"})
        streamed = list(client.chat.completions.create(model="up-m", messages=GREETED[2:], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "ok"
    sent = fake_llm.last
    if provider == "gemini":
        streaming = path.replace(":generate", ":streamGenerate")
        assert (sent.path, sent.query) == (streaming, {"code": "abc", "alt": "sse"})
    else:
        assert (sent.path, sent.query) == (path, {"code": "abc"})
