"""A reply whose token counts are no counts ("n/a", negative, a string of words, a usage that is
not an object) was thrown away as malformed (the router fell back, or fine mode lost the call):
the answer is kept, the counts read as 0 (through the router, each wire format; the gateway: tests/gateway/test_bad_usage.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from memoryd.llm import Router
from memoryd.llm.types import token_count
from tests.fakes.llm_server import Script
from tests.llm.conftest import target

MESSAGES = [{"role": "user", "content": "I live in Lisbon."}]

BODIES: dict[str, tuple[dict[str, Any], int]] = {  # a reply with bad counts, and the good count in it
    "openai": (
        {"choices": [{"message": {"content": "Noted."}, "finish_reason": "stop"}],
         "usage": {"prompt_tokens": "n/a", "completion_tokens": 7}}, 7,
    ),
    "anthropic": (
        {"type": "message", "content": [{"type": "text", "text": "Noted."}], "stop_reason": "end_turn",
         "usage": {"input_tokens": -3, "output_tokens": 7}}, 7,
    ),
    "gemini": (
        {"candidates": [{"content": {"parts": [{"text": "Noted."}]}, "finishReason": "STOP"}],
         "usageMetadata": {"promptTokenCount": "lots", "candidatesTokenCount": 7}}, 7,
    ),
}  # fmt: skip


@pytest.mark.parametrize("provider", sorted(BODIES))
async def test_an_answer_with_counts_that_are_no_counts_is_kept(
    fake_llm: Script, make_router: Callable[..., Router], provider: str
) -> None:
    body, completion = BODIES[provider]
    fake_llm.reply_body(body)
    out = await make_router([[target(fake_llm, provider)]]).complete(MESSAGES)
    assert out.text == "Noted."
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (0, completion)
    assert len(fake_llm.requests) == 1  # not asked again, no fallback


async def test_a_usage_that_is_not_an_object_is_no_usage(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.reply_body({"choices": [{"message": {"content": "Noted."}}], "usage": "n/a"})
    out = await make_router([[target(fake_llm, "openai")]]).complete(MESSAGES)
    assert out.text == "Noted." and out.usage.total_tokens == 0


@pytest.mark.parametrize(
    ("value", "count"),
    [(12, 12), (12.0, 12), ("12", 12), (None, 0), ("n/a", 0), (-1, 0), (1.5, 0), (True, 0), ([3], 0)],
)
def test_a_token_count_is_read_leniently(value: object, count: int) -> None:
    assert token_count(value) == count
