"""Fine mode against an answer cut short before its first fact (found in a review of fine mode
against a misbehaving LLM).

The first two failed on the code before its fix (the third passed: coverage): an answer cut at the token limit (or by a proxy)
before anything usable was repaired into "no facts" and taken as the answer: no re-ask, no
fallback, so the add stored the episode alone, without the profile and preferences fast mode's
rules keep when the LLM fails.
"""

from __future__ import annotations

import json

from memoryd import AsyncMemory
from tests.fakes.llm_server import Reply, Script
from tests.fine.test_fine_mode import facts, of_kind

ALICE = {"user_id": "alice"}
CUT = '{"facts": [{"text": "Alice works at Acme", "sources": [0]'  # the object never closed


async def test_an_answer_cut_before_any_fact_is_asked_again(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.push(Reply(text=CUT, finish_reason="length"))
    fake_llm.reply_json(facts("Alice works at Acme"))
    out = await fine.add("I work at Acme", **ALICE)
    assert [r.text for r in of_kind(out, "fact")] == ["Alice works at Acme"]
    assert out.llm is not None and out.llm.calls == len(fake_llm.requests) == 2
    assert out.llm.fallback is None
    assert "cut short" in fake_llm.requests[1].json["messages"][-1]["content"]


async def test_an_answer_that_stays_cut_before_any_fact_falls_back_to_fast_mode(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    fake_llm.push(Reply(text=CUT, finish_reason="length"), times=2)
    fake_llm.push(Reply(text="{"), times=2)  # a proxy that cuts it, "stop" said
    out = await fine.add("I work at Acme and I love green tea", **ALICE)
    assert out.llm is not None and out.llm.fallback is not None
    assert "stored as in fast mode" in out.llm.fallback and "cut short" in out.llm.fallback
    # as fast mode stores it: the episode and the rules' profile and preference
    assert sorted((r.kind, r.text) for r in out if r.kind != "episode") == [
        ("preference", "The user loves green tea."),
        ("profile", "The user works at Acme."),
    ]
    assert [r.text for r in of_kind(out, "episode")] == ["I work at Acme and I love green tea"]


async def test_a_cut_reconciliation_holding_no_decision_is_asked_again(fine: AsyncMemory, fake_llm: Script) -> None:
    """(Passed before: coverage.) Asked again once, not twice: the re-ask of reconciliation's own
    for an answer with no usable decision is not added to the one of structured output."""
    fake_llm.reply_json(facts("Alice likes green tea"))
    [old] = of_kind(await fine.add("I like green tea", **ALICE), "fact")
    fake_llm.reply_json(facts("Alice loves green tea"))
    fake_llm.push(Reply(text='{"decisions": [{"fact": 0, "event": "UPDATE", "tar', finish_reason="length"))
    fake_llm.reply_text(json.dumps({"decisions": [{"fact": 0, "event": "UPDATE", "target": 0, "text": "Alice loves green tea"}]}))
    out = await fine.add("I love green tea", **ALICE)
    [fact] = of_kind(out, "fact")
    assert (fact.event.value, fact.id, fact.text) == ("UPDATE", old.id, "Alice loves green tea")
    assert out.llm is not None and out.llm.complete and out.llm.calls == 3
