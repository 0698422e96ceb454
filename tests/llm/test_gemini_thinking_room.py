"""Gemini's thinking models bill their thoughts against ``maxOutputTokens``: a question thought
over at length ended ``MAX_TOKENS`` with no answer left, and fine mode fell back for every such
turn. Such a reply is now asked again once with the thoughts' tokens added to the limit."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from memoryd.llm import ChatRequest, Router, structured
from tests.fakes.llm_server import Script
from tests.llm.conftest import target

ASK = ChatRequest([{"role": "user", "content": "I like tea."}], json=True, schema={"type": "object"})


class Facts(BaseModel):
    facts: list[str]


def _reply(text: str, finish: str, thoughts: int, answer: int) -> dict[str, object]:
    parts: list[dict[str, object]] = [{"text": "Let me think about tea...", "thought": True}]
    if text:
        parts.append({"text": text})
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish}],
        "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": answer, "thoughtsTokenCount": thoughts},
        "modelVersion": "gemini-2.5-flash",
    }


async def test_an_answer_its_thoughts_left_no_room_for_is_asked_again_with_that_room(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.reply_body(_reply("", "MAX_TOKENS", thoughts=1500, answer=0))
    fake_llm.reply_body(_reply('{"facts": ["likes tea"]}', "STOP", thoughts=900, answer=12))
    t = target(fake_llm, "gemini", "gemini-2.5-flash", max_tokens=1500)
    router = make_router([[t]])
    answer = await structured(router, ASK.messages, Facts)
    assert answer.value == Facts(facts=["likes tea"]) and answer.error is None
    limits = [r.json["generationConfig"]["maxOutputTokens"] for r in fake_llm.requests]
    assert limits == [1500, 3000]
    assert "thinkingConfig" not in fake_llm.requests[1].json["generationConfig"]  # the model's own default
    # both calls' tokens, thoughts included (billed as output)
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (80, 1500 + 900 + 12)


async def test_a_reply_cut_by_its_answer_alone_is_not_asked_again(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.reply_body(_reply('{"facts": ["likes tea"]}', "MAX_TOKENS", thoughts=0, answer=1500))
    t = target(fake_llm, "gemini", "gemini-2.5-flash", max_tokens=1500)
    router = make_router([[t]])
    completion = await router.call(t, ASK)
    assert completion.finish_reason == "MAX_TOKENS" and len(fake_llm.requests) == 1
