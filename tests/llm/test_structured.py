"""Structured output over real HTTP: JSON asked for, repaired, validated, re-asked once, given up."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Literal

import pytest
from pydantic import BaseModel

from memoryd.errors import LLMUnavailableError
from memoryd.llm import Router, Target, structured
from memoryd.llm.structured import instruction, validate
from tests.fakes.llm_server import Script
from tests.llm.conftest import dead_url, target


class Fact(BaseModel):
    text: str
    kind: Literal["fact", "preference"] = "fact"


class Extraction(BaseModel):
    facts: list[Fact]


ASK = [
    {"role": "system", "content": "Extract facts about the user."},
    {"role": "user", "content": "I moved to Lisbon and I love green tea."},
]
GOOD = {"facts": [{"text": "lives in Lisbon"}, {"text": "loves green tea", "kind": "preference"}]}


async def test_valid_json_first_time(fake_llm: Script, make_router: Callable[..., Router]) -> None:
    fake_llm.reply_json(GOOD, usage=(100, 20))
    router = make_router([[target(fake_llm, "openai")]])
    out = await structured(router, ASK, Extraction, max_tokens=500)
    assert out.value == Extraction.model_validate(GOOD)
    assert (out.calls, out.usage.prompt_tokens, out.usage.completion_tokens) == (1, 100, 20)
    assert out.error is None and not out.repaired and out.target == router.targets[0].label
    sent = fake_llm.last.json
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["name"] == "Extraction"
    assert sent["response_format"]["json_schema"]["schema"] == Extraction.model_json_schema()
    assert sent["max_tokens"] == 500
    system = sent["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("Extract facts about the user.")
    assert instruction(Extraction) in system["content"] and len(sent["messages"]) == 2


@pytest.mark.parametrize(
    "answer",
    [
        "```json\n" + json.dumps(GOOD) + "\n```",
        "Here are the facts I found:\n" + json.dumps(GOOD) + "\nLet me know if you need more.",
        json.dumps(GOOD, indent=2)[:-1].rstrip() + ",\n",  # trailing comma, closing brace cut off
        json.dumps(GOOD["facts"]),  # the list without its wrapping object
        json.dumps({"Extraction": GOOD}),  # wrapped in one more object
        "<think>the user said {lisbon}</think>" + json.dumps(GOOD),
    ],
)
async def test_broken_but_repairable_answers(
    fake_llm: Script, make_router: Callable[..., Router], answer: str
) -> None:
    fake_llm.reply_text(answer)
    out = await structured(make_router([[target(fake_llm)]]), ASK, Extraction)
    assert out.value == Extraction.model_validate(GOOD), out.error
    assert out.repaired and out.calls == 1


async def test_a_prose_answer_is_reasked_once_with_the_error(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.reply_text("The user lives in Lisbon and loves green tea.")
    fake_llm.reply_json(GOOD)
    out = await structured(make_router([[target(fake_llm, "ollama")]]), ASK, Extraction)
    assert out.value == Extraction.model_validate(GOOD)
    assert out.calls == 2 and out.repaired and out.usage.prompt_tokens == 22
    again = fake_llm.requests[1].json["messages"]
    assert again[-2] == {"role": "assistant", "content": "The user lives in Lisbon and loves green tea."}
    assert again[-1]["role"] == "user" and "no JSON object or array" in again[-1]["content"]


async def test_schema_errors_are_shown_to_the_model(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.reply_json({"facts": [{"text": "x", "kind": "rumour"}]})
    fake_llm.reply_json(GOOD)
    out = await structured(make_router([[target(fake_llm, "anthropic")]]), ASK, Extraction)
    assert out.value is not None and out.calls == 2
    follow_up = fake_llm.requests[1].json["messages"][-1]["content"]
    assert "facts.0.kind" in follow_up and "'fact' or 'preference'" in follow_up


async def test_still_invalid_after_the_reask_gives_up_without_raising(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.reply_text("I am a small model and I like prose.", times=2)
    router = make_router([[target(fake_llm)]])
    out = await structured(router, ASK, Extraction)
    assert out.value is None and out.calls == 2 and len(fake_llm.requests) == 2
    assert out.error is not None and "no usable answer after 2 calls" in out.error
    assert "no JSON object or array" in out.error and out.target == router.targets[0].label
    stats = router.stats()["targets"][router.targets[0].label]
    assert (stats["rejected"], stats["failures"], stats["state"]) == (1, 0, "closed")


async def test_empty_answers(fake_llm: Script, make_router: Callable[..., Router]) -> None:
    fake_llm.reply_text("", times=2)
    out = await structured(make_router([[target(fake_llm, "gemini")]]), ASK, Extraction)
    assert out.value is None and out.calls == 2 and "the answer was empty" in (out.error or "")
    assert fake_llm.requests[1].json["contents"][-2] == {
        "role": "model",
        "parts": [{"text": "(an empty answer)"}],
    }


async def test_unusable_output_falls_back_to_the_next_tier(
    fake_llm: Script, fake_llm_factory: Callable[[], Script], make_router: Callable[..., Router]
) -> None:
    big = fake_llm_factory()
    fake_llm.reply_text("prose", times=2)
    big.reply_json(GOOD)
    router = make_router([[target(fake_llm, model="tiny")], [target(big, model="big")]])
    out = await structured(router, ASK, Extraction)
    assert out.value is not None and out.target == router.tiers[1][0].label
    assert out.calls == 3  # ask + re-ask on tiny, one ask on big (the re-ask is spent)
    assert len(big.requests) == 1 and len(big.last.json["messages"]) == 2


async def test_no_target_answering_raises_llm_unavailable(make_router: Callable[..., Router]) -> None:
    router = make_router([[Target("custom", "m", dead_url())]], max_attempts=2)
    with pytest.raises(LLMUnavailableError, match="connection failed"):
        await structured(router, ASK, Extraction)


async def test_bad_output_then_dead_fallback_returns_the_output_error(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.reply_text("prose", times=2)
    router = make_router([[target(fake_llm)], [Target("custom", "m", dead_url())]])
    out = await structured(router, ASK, Extraction)
    assert out.value is None and "no usable answer" in (out.error or "")
    assert "connection failed" in (out.error or "")


async def test_a_timeout_is_retried_and_counted_as_a_call(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.hang(30)
    fake_llm.reply_json(GOOD)
    router = make_router([[target(fake_llm, timeout_s=0.3)]], max_attempts=2)
    out = await structured(router, ASK, Extraction)
    assert out.value is not None and out.calls == 2


def test_validate_is_pure() -> None:
    value, error, repaired = validate(json.dumps(GOOD), Extraction)
    assert value is not None and error is None and not repaired
    value, error, _ = validate('{"facts": "nope"}', Extraction)
    assert value is None and error is not None and "facts" in error
    assert validate("   ", Extraction)[1] == "the answer was empty"


async def test_no_system_message_gets_one(fake_llm: Script, make_router: Callable[..., Router]) -> None:
    fake_llm.reply_json(GOOD)
    await structured(make_router([[target(fake_llm)]]), ASK[1:], Extraction)
    first = fake_llm.last.json["messages"][0]
    assert first["role"] == "system" and first["content"] == instruction(Extraction)
    fake_llm.reply_json(GOOD)
    await structured(make_router([[target(fake_llm)]]), ASK, Extraction, instruct=False)
    assert fake_llm.last.json["messages"] == ASK


async def test_a_refusal_with_braces_is_reasked_then_given_up_with_the_reason(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.default_text("I'm sorry, but I can't share personal details about {user}.")
    router = make_router([[target(fake_llm)]])
    out = await structured(router, ASK, Extraction)
    assert out.value is None and out.calls == 2 and len(fake_llm.requests) == 2
    assert out.error is not None and "no JSON object or array" in out.error


async def test_a_fenced_answer_after_a_bracketed_number_is_used_first_time(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.reply_text(f"I found [2] facts:\n```json\n{json.dumps(GOOD)}\n```")
    out = await structured(make_router([[target(fake_llm)]]), ASK, Extraction)
    assert out.value == Extraction.model_validate(GOOD) and out.calls == 1 and out.error is None
