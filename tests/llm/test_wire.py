"""Each wire format over real HTTP: the request a vendor receives, and how its answer is read."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from memoryd.errors import LLMError
from memoryd.llm import ChatRequest, Router, Target
from tests.fakes.llm_server import Reply, Script
from tests.llm.conftest import KEY, target

MESSAGES = [
    {"role": "system", "content": "You extract facts."},
    {"role": "user", "content": "I live in Lisbon."},
    {"role": "assistant", "content": "Noted."},
    {"role": "user", "content": "And I like tea."},
]


async def test_openai_request_and_response(fake_llm: Script, make_router: Callable[..., Router]) -> None:
    fake_llm.reply_text("hello", usage=(20, 3), finish_reason="length")
    t = target(fake_llm, "openai", "gpt-4o-mini", base_url=fake_llm.base_url, temperature=0.3, max_tokens=99)
    router = make_router([[t]])
    out = await router.complete(MESSAGES)
    sent = fake_llm.last
    assert sent.path == "v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json["model"] == "gpt-4o-mini"
    assert sent.json["messages"] == MESSAGES
    assert sent.json["temperature"] == 0.3
    assert sent.json["max_tokens"] == 99  # the classic name, for a server that is not api.openai.com
    assert "response_format" not in sent.json
    assert (out.text, out.model, out.finish_reason) == ("hello", "gpt-4o-mini", "length")
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (20, 3)
    assert out.target == t.label and "@127.0.0.1:" in t.label


def test_openai_itself_gets_max_completion_tokens() -> None:
    from memoryd.llm.openai_client import build_request

    t = Target("openai", "gpt-4o-mini", "https://api.openai.com/v1", api_key=KEY, max_tokens=77)
    url, headers, body, query = build_request(t, ChatRequest(MESSAGES))
    assert url == "https://api.openai.com/v1/chat/completions" and query == {}
    assert body["max_completion_tokens"] == 77 and "max_tokens" not in body
    assert headers == {"Authorization": f"Bearer {KEY}"}


async def test_openai_json_schema_mode_and_compatible_vendors(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    schema = {"type": "object", "properties": {"facts": {"type": "array"}}}
    fake_llm.reply_json({"facts": []}, times=3)
    openai = target(fake_llm, "openai")
    deepseek = target(fake_llm, "deepseek")
    ollama = target(fake_llm, "ollama", api_key=None)
    router = make_router([[openai, deepseek, ollama]])
    for t in (openai, deepseek, ollama):
        await router.call(t, ChatRequest(MESSAGES, json=True, schema=schema, schema_name="Extraction"))
    first, second, third = fake_llm.requests
    assert first.json["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Extraction", "schema": schema, "strict": False},
    }
    assert second.json["response_format"] == {"type": "json_object"}  # DeepSeek: JSON mode only
    assert second.json["max_tokens"] == 2048
    assert "authorization" not in third.headers  # Ollama: no key, no header
    assert third.json["response_format"]["type"] == "json_schema"


async def test_a_server_refusing_a_json_mode_is_asked_again_with_a_lower_one(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.fail(400, message="response_format json_schema is not supported")
    fake_llm.fail(400, message="response_format is not supported")
    fake_llm.reply_text('{"ok": true}', times=2)
    t = target(fake_llm, "vllm")
    router = make_router([[t]])
    request = ChatRequest(MESSAGES, json=True, schema={"type": "object"})
    assert (await router.call(t, request)).text == '{"ok": true}'
    kinds = [r.json.get("response_format", {}).get("type") for r in fake_llm.requests]
    assert kinds == ["json_schema", "json_object", None]
    await router.call(t, request)  # remembered: no more refused requests
    assert "response_format" not in fake_llm.last.json and len(fake_llm.requests) == 4


async def test_deepseek_reasoner_refusing_json_output_is_asked_again_without_it(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.fail(400, message="deepseek-reasoner does not support Json Output.")
    fake_llm.reply_text('{"ok": true}', times=2)
    t = target(fake_llm, "deepseek", "deepseek-reasoner")
    router = make_router([[t]])
    request = ChatRequest(MESSAGES, json=True, schema={"type": "object"})
    assert (await router.call(t, request)).text == '{"ok": true}'
    await router.call(t, request)  # remembered
    kinds = [r.json.get("response_format", {}).get("type") for r in fake_llm.requests]
    assert kinds == ["json_object", None, None]


async def test_a_400_about_something_else_is_raised_once_and_the_json_mode_kept(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    t = target(fake_llm, "vllm")
    router = make_router([[t]])
    request = ChatRequest(MESSAGES, json=True, schema={"type": "object"})

    def kinds() -> list[str | None]:
        return [r.json.get("response_format", {}).get("type") for r in fake_llm.requests]

    fake_llm.fail(400, message="This model's maximum context length is 8192 tokens")
    with pytest.raises(LLMError, match="maximum context length"):
        await router.call(t, request)
    assert kinds() == ["json_schema"]  # not sent again without its JSON mode
    # A lower mode is remembered only once it has worked: here the refused mode's step down fails.
    fake_llm.fail(400, message="response_format json_schema is not supported")
    fake_llm.fail(400, message="This model's maximum context length is 8192 tokens")
    with pytest.raises(LLMError, match="maximum context length"):
        await router.call(t, request)
    fake_llm.reply_text('{"ok": true}')
    assert (await router.call(t, request)).text == '{"ok": true}'
    assert kinds() == ["json_schema", "json_schema", "json_object", "json_schema"]


async def test_azure_url_scheme_and_api_key_header(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.reply_text("hi")
    t = target(fake_llm, "azure", "my-gpt4o-deployment", api_version="2024-10-21")
    router = make_router([[t]])
    out = await router.complete(MESSAGES)
    sent = fake_llm.last
    assert sent.path == "openai/deployments/my-gpt4o-deployment/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == KEY and "authorization" not in sent.headers
    assert "model" not in sent.json and sent.json["messages"] == MESSAGES
    assert out.text == "hi" and out.model == "my-gpt4o-deployment"


async def test_anthropic_messages_shape(fake_llm: Script, make_router: Callable[..., Router]) -> None:
    fake_llm.reply_text("Sure.", usage=(30, 4))
    t = target(fake_llm, "anthropic", "claude-haiku-4-5", max_tokens=321)
    router = make_router([[t]])
    out = await router.complete(
        [*MESSAGES, {"role": "user", "content": "Two user turns in a row."}], json=True, temperature=0.5
    )
    sent = fake_llm.last
    assert sent.path == "v1/messages"
    assert sent.headers["x-api-key"] == KEY and sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.json["system"] == "You extract facts."
    assert sent.json["messages"] == [
        {"role": "user", "content": "I live in Lisbon."},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "And I like tea.\n\nTwo user turns in a row."},
    ]
    assert sent.json["max_tokens"] == 321 and sent.json["temperature"] == 0.5
    assert sent.json["model"] == "claude-haiku-4-5"
    assert (out.text, out.finish_reason, out.usage.prompt_tokens, out.usage.completion_tokens) == (
        "Sure.",
        "end_turn",
        30,
        4,
    )


async def test_gemini_generate_content_shape(fake_llm: Script, make_router: Callable[..., Router]) -> None:
    fake_llm.reply_text('{"a": 1}', usage=(12, 5))
    t = target(fake_llm, "gemini", "gemini-2.5-flash")
    router = make_router([[t]])
    out = await router.complete(MESSAGES, json=True, max_tokens=64)
    sent = fake_llm.last
    assert sent.path == "v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == KEY and "key" not in sent.query  # never in the URL
    assert sent.json["systemInstruction"] == {"parts": [{"text": "You extract facts."}]}
    assert sent.json["contents"] == [
        {"role": "user", "parts": [{"text": "I live in Lisbon."}]},
        {"role": "model", "parts": [{"text": "Noted."}]},
        {"role": "user", "parts": [{"text": "And I like tea."}]},
    ]
    assert sent.json["generationConfig"] == {
        "temperature": 0.0,
        "maxOutputTokens": 64,
        "responseMimeType": "application/json",
    }
    assert (out.text, out.finish_reason, out.usage.total_tokens) == ('{"a": 1}', "STOP", 17)


async def test_gemini_blocked_prompt_is_an_empty_answer(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.reply_body({"promptFeedback": {"blockReason": "SAFETY"}})
    t = target(fake_llm, "gemini", "gemini-2.5-flash")
    out = await make_router([[t]]).complete(MESSAGES)
    assert out.text == "" and out.finish_reason == "blocked: SAFETY"


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("openai", {"choices": []}),
        ("anthropic", {"type": "message"}),
        ("gemini", {"usageMetadata": {}}),
    ],
)
async def test_malformed_replies_are_llm_errors(
    fake_llm: Script, make_router: Callable[..., Router], provider: str, body: dict[str, object]
) -> None:
    fake_llm.reply_body(body)
    t = target(fake_llm, provider)
    with pytest.raises(LLMError, match="the reply has no"):
        await make_router([[t]]).call(t, ChatRequest(MESSAGES))


async def test_non_json_reply_and_error_statuses_name_the_target(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    t = target(fake_llm)
    router = make_router([[t]])
    fake_llm.reply_raw("<html>bad gateway</html>")
    with pytest.raises(LLMError, match="not a JSON object") as info:
        await router.call(t, ChatRequest(MESSAGES))
    assert info.value.transient
    fake_llm.fail(401, message="invalid api key")
    with pytest.raises(LLMError) as info:
        await router.call(t, ChatRequest(MESSAGES))
    assert info.value.status == 401 and not info.value.transient
    assert t.label in info.value.message and "check the API key" in info.value.message
    assert "invalid api key" in info.value.message


async def test_openai_content_parts_and_null_content(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    t = target(fake_llm)
    router = make_router([[t]])
    choice = {"index": 0, "finish_reason": "stop"}
    fake_llm.reply_body(
        {"choices": [{**choice, "message": {"content": [{"type": "text", "text": "a"}, {"text": "b"}]}}]}
    )
    fake_llm.reply_body({"choices": [{**choice, "message": {"content": None, "refusal": "no"}}]})
    assert (await router.call(t, ChatRequest(MESSAGES))).text == "ab"
    empty = await router.call(t, ChatRequest(MESSAGES))
    assert empty.text == "" and empty.usage.total_tokens == 0 and empty.model == "m"


async def test_full_chat_completions_url_is_used_as_given(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    t = Target("custom", "m", f"{fake_llm.base_url}/chat/completions", api_key=None)
    fake_llm.push(Reply(text="x"))
    assert (await make_router([[t]]).complete(MESSAGES)).text == "x"
    assert fake_llm.last.path == "v1/chat/completions"


@pytest.mark.parametrize(
    ("refusal", "dropped", "sent"),
    [
        (  # OpenAI's reasoning models (o-series, gpt-5) take no temperature but the default
            "Unsupported value: 'temperature' does not support 0 with this model. "
            "Only the default (1) value is supported.",
            "temperature",
            "max_tokens",
        ),
        (  # the same models behind Azure or a proxy, asked with the classic name
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "max_tokens",
            "max_completion_tokens",
        ),
    ],
)
async def test_a_reasoning_model_refusing_a_parameter_is_asked_again_without_it(
    refusal: str, dropped: str, sent: str, fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.fail(400, message=refusal)
    fake_llm.reply_text('{"ok": true}', times=2)
    t = target(fake_llm, "azure", "my-gpt-5-mini", max_tokens=500)
    router = make_router([[t]])
    request = ChatRequest(MESSAGES, json=True, schema={"type": "object"})
    assert (await router.call(t, request)).text == '{"ok": true}'
    await router.call(t, request)  # remembered: not refused again
    first, second, third = (r.json for r in fake_llm.requests)
    assert dropped in first and dropped not in second and dropped not in third
    assert second[sent] == third[sent] == 500 and second["messages"] == MESSAGES
    assert second["response_format"] == first["response_format"]  # the JSON mode kept


async def test_a_temperature_out_of_range_is_raised_as_is(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.fail(400, message="Invalid 'temperature': decimal above maximum value. Expected a value <= 2")
    t = target(fake_llm, "openai", "gpt-4o-mini", temperature=3.0)
    router = make_router([[t]])
    with pytest.raises(LLMError, match="temperature"):
        await router.call(t, ChatRequest(MESSAGES))
    assert len(fake_llm.requests) == 1
