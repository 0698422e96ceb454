"""Fine mode against answers cut short without saying so, an LLM that goes down after a bad
answer, and an answer a content filter emptied (found in a review of fine mode against a
misbehaving LLM).

Each test failed on the code before its fix: an answer ending inside its JSON, sent with
``finish_reason: "stop"``, was repaired and taken as the whole answer (a lone ``{`` as "nothing
to remember"), the add said it was complete and its turn was marked done; a fallback named
the bad answer, not the outage that followed it; and one emptied by a content filter was only
"the answer was empty".
"""

from __future__ import annotations

from memoryd import AsyncMemory
from memoryd.hierarchy.models import LEVEL_LLM
from tests.fakes.llm_server import Script
from tests.fine.test_fine_mode import of_kind

ALICE = {"user_id": "alice"}


async def _turn_level(fine: AsyncMemory, episode_id: str) -> int:
    assert fine.storage.segments is not None
    [turn] = await fine.storage.segments.turns(memory_ids=[episode_id])
    return turn.level


async def test_an_answer_ending_inside_its_json_is_said_cut_short_whatever_the_stop_reason(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    cut = '{"facts": [{"text": "Alice has a cat", "sources": [0]}, {"text": "Alice has a do'
    fake_llm.reply_text(cut)  # finish_reason "stop": a proxy cut it, or a server that does not say
    out = await fine.add("I have a cat and a dog", **ALICE)
    assert [r.text for r in of_kind(out, "fact")] == ["Alice has a cat"]  # what came before the cut
    assert out.llm is not None and out.llm.fallback is None
    assert out.llm.incomplete is not None and "cut short" in out.llm.incomplete
    assert out.llm.calls == len(fake_llm.requests) == 1
    [episode] = of_kind(out, "episode")
    assert await _turn_level(fine, episode.id) < LEVEL_LLM  # due for another pass


async def test_a_lone_brace_is_not_taken_for_nothing_to_remember(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_text("{")
    out = await fine.add("My sister Emma is a nurse in Lyon", **ALICE)
    [episode] = of_kind(out, "episode")
    assert out.llm is not None and not out.llm.complete
    assert await _turn_level(fine, episode.id) < LEVEL_LLM


async def test_a_complete_answer_around_prose_is_not_said_cut(fine: AsyncMemory, fake_llm: Script) -> None:
    # Repaired (prose, a fence, a trailing comma) but whole: nothing is said missing.
    answer = '{"facts": [{"text": "Alice plays chess", "sources": [0],}], "relations": [],}'
    fake_llm.reply_text(f"Here you go [as asked]:\n```json\n{answer}\n```\nAnything else?")
    out = await fine.add("I play chess", **ALICE)
    assert [r.text for r in of_kind(out, "fact")] == ["Alice plays chess"]
    assert out.llm is not None and out.llm.complete


async def test_an_outage_after_a_bad_answer_is_named_in_the_fallback(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_text("I'm sorry, I can't help with that.")
    fake_llm.fail(500, message="upstream exploded", times=5)
    out = await fine.add("I have a fish", **ALICE)
    assert [r.kind for r in out] == ["episode"]
    assert out.llm is not None and out.llm.fallback is not None
    assert "HTTP 500" in out.llm.fallback and "upstream exploded" in out.llm.fallback
    # the refusal, the re-ask that met the 500, one more attempt (max_attempts = 2): all counted
    assert out.llm.calls == len(fake_llm.requests) == 3
    assert (out.llm.prompt_tokens, out.llm.completion_tokens) == (11, 7)  # the one answer's


async def test_an_answer_a_content_filter_emptied_says_so(fine: AsyncMemory, fake_llm: Script) -> None:
    # Not "the answer was empty" alone, which reads as a broken model or server.
    fake_llm.reply_text("", finish_reason="content_filter", times=2)
    out = await fine.add("I have a fish", **ALICE)
    assert [r.kind for r in out] == ["episode"]
    assert out.llm is not None and "content_filter" in str(out.llm.fallback)
    assert out.llm.calls == len(fake_llm.requests) == 2  # asked, re-asked once
