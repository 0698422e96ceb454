"""Fine mode says what it left undone, and keeps what it was told (found in a review of fine mode).

Each test failed on the code before its fix (but the later pass's, which guards the fix: a fact
added undecided is not added again when its turn is processed again):

- a reconciliation answer cut at the token limit, keyed wrongly or empty turned every fact it
  did not decide into a plain ADD, said nothing (``llm.incomplete`` None) and marked the turn done;
  one with no usable decision was not asked again;
- facts past ``fine.max_facts`` and relations past ``fine.max_relations`` were dropped silently;
- an UPDATE of a home rewrote it in place, so ``as_of`` gave the new home for the past;
- a NOOP and an UPDATE (or DELETE) of one memory in one add lost the NOOP's turn as a source.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from memoryd import AsyncMemory
from memoryd.hierarchy.models import LEVEL_LLM
from memoryd.hierarchy.promote import process_turns
from memoryd.models import AddResult, AddResults, Event, MemoryRecord
from memoryd.storage import ChangeSet
from tests.fakes.llm_server import Reply, Script
from tests.fine.test_fine_mode import decisions, facts, of_kind

ALICE = {"user_id": "alice"}
MOVED = "I moved to Berlin. Rex died, I have no dog anymore."


async def _turn_level(mem: AsyncMemory, out: list[AddResult]) -> int:
    [episode] = of_kind(out, "episode")
    assert mem.storage.segments is not None
    [turn] = await mem.storage.segments.turns(memory_ids=[episode.id])
    return turn.level


async def _current_facts(mem: AsyncMemory) -> list[str]:
    return sorted(m.text for m in (await mem.get_all(**ALICE, filters={"kind": "fact"})).items)


async def _paris_and_rex(mem: AsyncMemory, llm: Script) -> None:
    llm.reply_json(facts("Alice lives in Paris", "Alice has a dog named Rex"))
    await mem.add("I live in Paris and have a dog named Rex", **ALICE)
    llm.reply_json(facts("Alice lives in Berlin", "Alice no longer has a dog"))


async def test_a_reconciliation_cut_at_the_token_limit_says_so_and_leaves_the_turn_due(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    await _paris_and_rex(fine, fake_llm)
    cut = '{"decisions":[{"fact":0,"event":"SUPERSEDE","target":0},{"fact":1,"event":"DEL'
    fake_llm.push(Reply(text=cut, finish_reason="length"))
    out = await fine.add(MOVED, **ALICE)
    berlin, no_dog = of_kind(out, "fact")
    assert berlin.event is Event.SUPERSEDE  # what came before the cut is kept
    assert (no_dog.event, no_dog.reason) == (Event.ADD, "no decision returned")  # the fact is not lost
    assert out.llm is not None and out.llm.fallback is None
    assert "token limit" in str(out.llm.incomplete)
    assert "no usable decision for 1 of 2 new facts" in str(out.llm.incomplete)
    assert await _turn_level(fine, out) < LEVEL_LLM  # due for another pass


@pytest.mark.parametrize(
    "unusable",
    [
        {"decisions": [{"id": 0, "event": "SUPERSEDE", "target": 0}, {"id": 1, "event": "DELETE", "target": 1}]},
        {"decisions": []},
    ],
    ids=["keyed-id", "empty"],
)
async def test_a_reconciliation_with_no_usable_decision_is_asked_again(
    fine: AsyncMemory, fake_llm: Script, unusable: dict[str, Any]
) -> None:
    await _paris_and_rex(fine, fake_llm)
    fake_llm.reply_json(unusable)
    fake_llm.reply_json(
        decisions({"fact": 0, "event": "SUPERSEDE", "target": 0}, {"fact": 1, "event": "DELETE", "target": 1})
    )
    out = await fine.add(MOVED, **ALICE)
    assert [r.event for r in of_kind(out, "fact")] == [Event.SUPERSEDE, Event.DELETE]
    assert "no decision has the shape asked for" in fake_llm.requests[-1].json["messages"][-1]["content"]
    assert out.llm is not None and out.llm.calls == 3 and out.llm.complete
    assert await _current_facts(fine) == ["Alice lives in Berlin"]
    assert await _turn_level(fine, out) == LEVEL_LLM


async def test_a_reconciliation_that_stays_unusable_says_so_and_leaves_the_turn_due(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    await _paris_and_rex(fine, fake_llm)
    fake_llm.reply_json({"decisions": []}, times=2)
    out = await fine.add(MOVED, **ALICE)
    assert [r.event for r in of_kind(out, "fact")] == [Event.ADD, Event.ADD]  # nothing lost
    assert out.llm is not None and "added as new" in str(out.llm.incomplete)
    assert await _turn_level(fine, out) < LEVEL_LLM


async def test_a_later_pass_over_the_turn_does_not_add_an_undecided_fact_twice(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    await _paris_and_rex(fine, fake_llm)
    fake_llm.push(Reply(text='{"decisions":[{"fact":0,"event":"SUPERSEDE","target":0},{"fa', finish_reason="length"))
    out = await fine.add(MOVED, **ALICE)
    before = await _current_facts(fine)
    assert "Alice no longer has a dog" in before
    [episode] = of_kind(out, "episode")

    async def no_rules(turns: list[MemoryRecord], now: datetime, changes: ChangeSet) -> list[AddResult]:
        return []

    fake_llm.reply_json(facts("Alice lives in Berlin", "Alice no longer has a dog"))  # the same, extracted again
    assert fine._fine is not None
    level = await process_turns(
        [await fine.get(episode.id)], storage=fine.storage, rules=no_rules, fine=fine._fine, now=datetime.now()
    )
    assert level == LEVEL_LLM
    assert await _current_facts(fine) == before  # known verbatim: a NOOP, not a second copy


async def test_facts_and_relations_past_their_caps_are_said_and_leave_the_turn_due(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    said = [f"Alice visited city number {i} in 2023" for i in range(40)]
    relations = [{"source": "Alice", "relation": "visited", "target": f"City{i}"} for i in range(55)]
    fake_llm.reply_json({**facts(*said), "relations": relations})
    out = await fine.add("Here are the 40 cities I visited in 2023: ...", **ALICE)
    assert len(of_kind(out, "fact")) == 30  # fine.max_facts
    assert out.llm is not None and out.llm.fallback is None
    assert "10 extracted facts past fine.max_facts" in str(out.llm.incomplete)
    assert "5 extracted relations past fine.max_relations" in str(out.llm.incomplete)
    assert await _turn_level(fine, out) < LEVEL_LLM


def _home(text: str) -> dict[str, Any]:
    return facts(text, kind="profile", attribute="location")


async def test_an_update_of_a_home_starts_a_new_one_and_the_old_holds_for_the_past(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    fake_llm.reply_json(_home("Alice lives in Paris"))
    [paris] = of_kind(await fine.add("I live in Paris", **ALICE, timestamp="2023-01-01T00:00:00Z"), "profile")
    fake_llm.reply_json(_home("Alice lives in Berlin"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "UPDATE", "target": 0, "text": "Alice lives in Berlin, Mitte"}))
    out = await fine.add("I moved to Berlin", **ALICE, timestamp="2024-06-01T00:00:00Z")
    [berlin] = of_kind(out, "profile")
    assert (berlin.event, berlin.text, berlin.previous) == (Event.SUPERSEDE, "Alice lives in Berlin, Mitte", paris.text)
    assert berlin.id != paris.id
    then = await fine.search("Where does Alice live?", **ALICE, as_of="2023-06-01T00:00:00Z", filters={"kind": "profile"})
    assert [h.memory.text for h in then] == ["Alice lives in Paris"]
    now = await fine.search("Where does Alice live?", **ALICE, filters={"kind": "profile"})
    assert [(h.memory.text, h.memory.metadata["attribute"]) for h in now] == [("Alice lives in Berlin, Mitte", "location")]
    # its vector is the merged text's: found by it as well as the old
    [top, *_] = await fine.search("Berlin Mitte", **ALICE, filters={"kind": "profile"})
    assert top.memory.id == berlin.id


async def _rex_told_again(
    mem: AsyncMemory, llm: Script, said: tuple[str, str], told: list[str], *decided: dict[str, Any]
) -> tuple[AddResults, AddResults, AddResult]:
    """Alice's dog Rex stored, then ``told`` in one add whose two messages the LLM reads as the
    facts ``said`` (one from each) and decides on as ``decided``: the first add's results, the
    second's, and Rex's fact."""
    llm.reply_json(facts("Alice has a dog named Rex"))
    first = await mem.add("I have a dog named Rex", **ALICE)
    [rex] = of_kind(first, "fact")
    llm.reply_json({"facts": [{"text": text, "sources": [i]} for i, text in enumerate(said)], "relations": []})
    llm.reply_json(decisions(*decided))
    out = await mem.add(told, **ALICE)
    return first, out, rex


async def test_a_noop_and_an_update_of_one_memory_keep_both_turns_as_sources(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    first, out, rex = await _rex_told_again(
        fine,
        fake_llm,
        ("Alice owns a dog called Rex", "Alice's dog Rex is a beagle"),
        ["Yes, Rex is my dog", "He is a beagle"],
        {"fact": 0, "event": "NOOP", "target": 0},
        {"fact": 1, "event": "UPDATE", "target": 0, "text": "Alice has a beagle named Rex"},
    )
    assert [(r.event, r.id) for r in of_kind(out, "fact")] == [(Event.NOOP, rex.id), (Event.UPDATE, rex.id)]
    turns = [r.id for r in of_kind(first, "episode") + of_kind(out, "episode")]
    stored = await fine.get(rex.id)
    assert (stored.text, stored.source_ids) == ("Alice has a beagle named Rex", tuple(turns))


async def test_a_fact_restated_and_ended_in_one_add_keeps_the_new_turn_as_a_source(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    # said again verbatim (a NOOP, no question), and ended by the next fact
    first, out, rex = await _rex_told_again(
        fine,
        fake_llm,
        ("Alice has a dog named Rex", "Alice gave Rex to her sister"),
        ["I had a dog named Rex", "I gave him to my sister"],
        {"fact": 0, "event": "DELETE", "target": 0},
    )
    assert [r.event for r in of_kind(out, "fact")] == [Event.NOOP, Event.DELETE]
    turns = [r.id for r in of_kind(first, "episode") + of_kind(out, "episode")[:1]]
    stored = await fine.get(rex.id)
    assert stored.valid_to is not None and stored.source_ids == tuple(turns)
