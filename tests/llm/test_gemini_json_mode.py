"""Gemini models without JSON mode (Gemma on the Gemini API) answer JSON asked for in the prompt."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import BaseModel

from memoryd.errors import LLMError
from memoryd.llm import ChatRequest, Router, structured
from tests.fakes.llm_server import Script
from tests.llm.conftest import target

ASK = ChatRequest([{"role": "user", "content": "I like tea."}], json=True, schema={"type": "object"})


class Facts(BaseModel):
    facts: list[str]


def _mime_types(script: Script) -> list[str | None]:
    return [r.json["generationConfig"].get("responseMimeType") for r in script.requests]


@pytest.mark.parametrize(
    "refusal",
    [
        "JSON mode is not enabled for models/gemma-3-27b-it",  # the Gemini API, Gemma models
        "Unable to submit request because it has a mimeType parameter with value application/json, "
        "which is not supported. Update the mimeType and try again.",  # Vertex AI
    ],
)
async def test_a_model_refusing_json_mode_is_asked_again_without_it_and_remembered(
    refusal: str, fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.fail(400, message=refusal)
    fake_llm.reply_json({"facts": ["likes tea"]}, times=2)
    t = target(fake_llm, "gemini", "gemma-3-27b-it")
    router = make_router([[t]])
    answer = await structured(router, ASK.messages, Facts)
    assert answer.value == Facts(facts=["likes tea"]) and answer.error is None
    assert _mime_types(fake_llm) == ["application/json", None]
    await router.call(t, ASK)  # remembered: not refused again
    assert _mime_types(fake_llm) == ["application/json", None, None]
    assert router.stats()["targets"][t.label]["bad_requests"] == 0


async def test_a_400_about_something_else_keeps_the_json_mode(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.fail(400, message="The input token count (1200000) exceeds the maximum number of tokens allowed")
    t = target(fake_llm, "gemini", "gemini-2.5-flash")
    router = make_router([[t]])
    with pytest.raises(LLMError, match="exceeds the maximum"):
        await router.call(t, ASK)
    await router.call(t, ASK)
    assert _mime_types(fake_llm) == ["application/json", "application/json"]
