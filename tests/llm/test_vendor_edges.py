"""Anthropic and Gemini edges over real HTTP: a conversation opened by the assistant (both APIs want a
user turn first), Anthropic's ``stop_reason: "refusal"`` read as the model's refusal, and a
``base_url`` with a query string (an API gateway's ``?code=...``) for every wire."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import BaseModel

from memoryd.config import load_settings
from memoryd.llm import ChatRequest, Router, build_router, structured
from tests.fakes.llm_server import Script
from tests.llm.conftest import target

GREETED = [
    {"role": "system", "content": "Be brief."},
    {"role": "assistant", "content": "Hi! How can I help?"},
    {"role": "user", "content": "What is my name?"},
]


class Facts(BaseModel):
    facts: list[str]


def _refused(text: str, **extra: object) -> dict[str, object]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": "refusal",
        "usage": {"input_tokens": 12, "output_tokens": 2},
        **extra,
    }


async def test_an_anthropic_conversation_opened_by_the_assistant_starts_with_a_user_turn(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    t = target(fake_llm, "anthropic")
    fake_llm.reply_text("You have not told me.")
    answer = await make_router([[t]]).call(t, ChatRequest(GREETED))
    assert answer.text == "You have not told me."
    body = fake_llm.last.json
    assert body["system"] == "Be brief."
    opening, *rest = body["messages"]
    assert opening["role"] == "user" and "assistant" in opening["content"]  # says what follows
    assert rest == [
        {"role": "assistant", "content": "Hi! How can I help?"},
        {"role": "user", "content": "What is my name?"},
    ]


async def test_a_gemini_conversation_opened_by_the_model_starts_with_a_user_turn(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    t = target(fake_llm, "gemini")
    fake_llm.reply_text("You have not told me.")
    answer = await make_router([[t]]).call(t, ChatRequest(GREETED))
    assert answer.text == "You have not told me."
    opening, *rest = fake_llm.last.json["contents"]
    assert opening["role"] == "user" and "assistant" in opening["parts"][0]["text"]
    assert rest == [
        {"role": "model", "parts": [{"text": "Hi! How can I help?"}]},
        {"role": "user", "parts": [{"text": "What is my name?"}]},
    ]


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
async def test_a_conversation_of_system_messages_alone_is_sent_with_one_user_turn(
    fake_llm: Script, make_router: Callable[..., Router], provider: str
) -> None:
    # OpenAI answers a request of system messages alone; Anthropic and Gemini refuse an empty turn list
    t = target(fake_llm, provider)
    fake_llm.reply_text("Bonjour.")
    answer = await make_router([[t]]).call(
        t, ChatRequest([{"role": "system", "content": "Greet in French."}])
    )
    assert answer.text == "Bonjour."
    body = fake_llm.last.json
    if provider == "anthropic":
        assert body["system"] == "Greet in French."
        [turn] = body["messages"]
        assert turn["role"] == "user" and "instructions" in turn["content"]
    else:
        assert body["systemInstruction"]["parts"][0]["text"] == "Greet in French."
        [turn] = body["contents"]
        assert turn["role"] == "user" and "instructions" in turn["parts"][0]["text"]


async def test_an_anthropic_refusal_is_the_completions_refusal_with_its_explanation(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    t = target(fake_llm, "anthropic")
    why = {"type": "refusal", "category": "cyber", "explanation": "This conflicts with the usage policy."}
    fake_llm.reply_body(_refused("Sure, here is how to", stop_details=why))
    answer = await make_router([[t]]).call(t, ChatRequest(GREETED))
    # The text the classifiers stopped is not the answer: OpenAI's shape, content null beside a refusal.
    assert answer.text == "" and answer.finish_reason == "refusal"
    assert answer.refusal == "This conflicts with the usage policy."
    assert answer.usage.total_tokens == 14


async def test_an_anthropic_refusal_fails_structured_output_as_a_refusal_not_an_empty_answer(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.reply_body(_refused(""), times=2)
    out = await structured(make_router([[target(fake_llm, "anthropic")]]), GREETED, Facts)
    assert out.value is None and out.error is not None
    assert "the model refused" in out.error and "declined" in out.error, out.error
    assert "empty" not in out.error, out.error


@pytest.mark.parametrize(
    ("provider", "path", "query"),
    [
        ("custom", "v1/chat/completions", {"code": "abc"}),
        ("anthropic", "v1/messages", {"code": "abc"}),
        ("gemini", "v1beta/models/m:generateContent", {"code": "abc"}),
        ("azure", "openai/deployments/m/chat/completions", {"code": "abc", "api-version": "2024-10-21"}),
    ],
)
async def test_a_base_url_with_a_query_gets_the_api_path_before_it_and_keeps_it(
    provider: str, path: str, query: dict[str, str], fake_llm: Script
) -> None:
    base = {"gemini": fake_llm.gemini_url, "azure": fake_llm.azure_url}.get(provider, fake_llm.base_url)
    settings = load_settings(
        env={
            "MEMORYD_LLM_PROVIDER": provider,
            "MEMORYD_LLM_BASE_URL": f"{base}/?code=abc",
            "MEMORYD_LLM_MODEL": "m",
            "MEMORYD_LLM_API_VERSION": "2024-10-21",
        }
    )
    router = build_router(settings, env={})
    assert router is not None
    try:
        fake_llm.reply_text("ok")
        assert (await router.complete([{"role": "user", "content": "hi"}])).text == "ok"
    finally:
        await router.aclose()
    assert fake_llm.last.path == path
    assert fake_llm.last.query == query


async def test_a_whole_messages_url_with_a_query_is_used_as_given(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    t = target(fake_llm, "anthropic", base_url=f"{fake_llm.base_url}/messages?code=abc")
    fake_llm.reply_text("ok")
    assert (await make_router([[t]]).call(t, ChatRequest(GREETED))).text == "ok"
    assert (fake_llm.last.path, fake_llm.last.query) == ("v1/messages", {"code": "abc"})


async def test_an_azure_deployment_url_behind_a_gateway_keeps_the_gateways_query(fake_llm: Script) -> None:
    whole = f"{fake_llm.azure_url}/openai/deployments/dep/chat/completions?api-version=2024-10-21&code=abc"
    settings = load_settings(env={"MEMORYD_LLM_PROVIDER": "azure", "MEMORYD_LLM_BASE_URL": whole})
    router = build_router(settings, env={})
    assert router is not None
    try:
        fake_llm.reply_text("ok")
        assert (await router.complete([{"role": "user", "content": "hi"}])).text == "ok"
    finally:
        await router.aclose()
    assert fake_llm.last.path == "openai/deployments/dep/chat/completions"
    assert fake_llm.last.query == {"code": "abc", "api-version": "2024-10-21"}
