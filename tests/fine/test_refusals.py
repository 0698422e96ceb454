"""An OpenAI refusal (``message.refusal`` with a null content) is named in the fallback as the
model's refusal, with its words: it read "the answer was empty", as from a broken model or server."""

from __future__ import annotations

from memoryd import AsyncMemory
from tests.fakes.llm_server import Script

REFUSED = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": None, "refusal": "I can't help with that request."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 10, "completion_tokens": 6, "total_tokens": 16},
}


async def test_a_refusal_is_named_with_its_words_and_the_episode_is_kept(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_body(REFUSED, times=2)
    out = await fine.add("I have a fish named Nemo", user_id="alice")
    assert [r.kind for r in out if r.kind == "episode"] == ["episode"]
    assert out.llm is not None and out.llm.fallback is not None
    assert "refused" in out.llm.fallback and "I can't help with that request." in out.llm.fallback, out.llm.fallback
    assert out.llm.calls == len(fake_llm.requests) == 2  # asked, re-asked once
