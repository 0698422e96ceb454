"""Fine mode against a reconciliation model whose answers are legal in form and wrong or hostile.

Checked through ``add(mode="fine")`` and what ``get_all``, ``search`` and ``history`` then show.
The tests that name a fix failed on the code before it: an UPDATE or ADD could leave two current
copies of one text, an UPDATE whose text was refused became a SUPERSEDE without a word, a note
named the prompt's handle ("memory [0]") instead of the memory, and an extracted fact too long to
store vanished without a word (the turn marked done).
"""

from __future__ import annotations

from typing import Any

import pytest

from memoryd import AsyncMemory
from memoryd.hierarchy.models import LEVEL_LLM
from memoryd.models import Event
from tests.fakes.llm_server import Script
from tests.fine.test_fine_mode import decisions, facts, of_kind

ALICE = {"user_id": "alice"}
KNOWN = {"kind": {"in": ["fact", "preference", "profile"]}}


async def _seed(fine: AsyncMemory, fake_llm: Script, *texts: str, user: str = "alice") -> list[str]:
    fake_llm.reply_json(facts(*texts))
    out = await fine.add("Notes: " + "; ".join(texts), user_id=user, mode="fine")
    return [r.id for r in of_kind(out, "fact")]


async def _current(fine: AsyncMemory, user: str = "alice") -> dict[str, str]:
    page = await fine.get_all(user_id=user, filters=KNOWN)
    return {m.id: m.text for m in page.items}


async def test_an_update_to_the_text_of_another_memory_is_known_as_that_one(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Fix: the UPDATE rewrote "coffee" into a second current "Alice likes tea"."""
    tea, coffee = await _seed(fine, fake_llm, "Alice likes tea", "Alice likes coffee")
    fake_llm.reply_json(facts("Alice likes black coffee"))
    # The prompt lists coffee as [0] (nearest first): the model "merges" it into tea's text
    fake_llm.reply_json(decisions({"fact": 0, "event": "UPDATE", "target": 0, "text": "alice likes TEA"}))
    out = await fine.add("I take my coffee black", **ALICE, mode="fine")
    assert "[0] Alice likes coffee" in fake_llm.requests[-1].json["messages"][-1]["content"]
    [fact] = of_kind(out, "fact")
    assert (fact.event, fact.id) == (Event.NOOP, tea)
    assert fact.reason is not None and f"an UPDATE of memory {coffee} would have copied it" in fact.reason
    assert await _current(fine) == {tea: "Alice likes tea", coffee: "Alice likes coffee"}
    assert [h.event for h in await fine.history(coffee)] == [Event.ADD]  # untouched
    noop = (await fine.history(tea))[-1]
    assert (noop.event, noop.actor) == (Event.NOOP, "api:add/fine")
    [episode] = of_kind(out, "episode")
    assert episode.id in (await fine.get(tea)).source_ids


async def test_two_updates_to_one_text_leave_one_copy(fine: AsyncMemory, fake_llm: Script) -> None:
    """Fix: both memories became "Alice likes hot drinks", two current copies."""
    tea, coffee = await _seed(fine, fake_llm, "Alice likes tea", "Alice likes coffee")
    fake_llm.reply_json(facts("Alice likes green tea", "Alice likes black coffee"))
    same = "Alice likes hot drinks"
    fake_llm.reply_json(
        decisions(
            {"fact": 0, "event": "UPDATE", "target": 1, "text": same},
            {"fact": 1, "event": "UPDATE", "target": 0, "text": same},
        )
    )
    out = await fine.add("Green tea, and black coffee", **ALICE, mode="fine")
    first, second = of_kind(out, "fact")
    assert (first.event, first.id, first.text) == (Event.UPDATE, tea, same)
    assert (second.event, second.id) == (Event.NOOP, tea)
    assert await _current(fine) == {tea: same, coffee: "Alice likes coffee"}
    hits = await fine.search("hot drinks", **ALICE, filters=KNOWN)
    assert [h.memory.text for h in hits].count(same) == 1


async def test_an_add_of_a_text_an_update_of_the_same_answer_wrote_is_a_noop(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Fix: "Alice likes mate" was stored twice, once merged into tea and once added."""
    tea, coffee = await _seed(fine, fake_llm, "Alice likes tea", "Alice likes coffee")
    fake_llm.reply_json(facts("Alice likes green tea", "Alice likes mate"))
    fake_llm.reply_json(
        decisions(
            {"fact": 0, "event": "UPDATE", "target": 0, "text": "Alice likes mate"},
            {"fact": 1, "event": "ADD"},
        )
    )
    out = await fine.add("Green tea, and mate", **ALICE, mode="fine")
    first, second = of_kind(out, "fact")
    assert (first.event, second.event) == (Event.UPDATE, Event.NOOP)
    assert second.id == first.id and second.reason is not None and "an ADD would have copied" in second.reason
    assert sorted((await _current(fine)).values()) == ["Alice likes coffee", "Alice likes mate"]


async def test_an_update_whose_text_is_refused_says_so(fine: AsyncMemory, fake_llm: Script) -> None:
    """Fix: applied as a SUPERSEDE whose reason said only "replaces memory ..."."""
    [tea] = await _seed(fine, fake_llm, "Alice likes tea")
    fake_llm.reply_json(facts("Alice likes green tea"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "UPDATE", "target": 0, "text": "y" * 100_000}))
    out = await fine.add("Green tea now", **ALICE, mode="fine")
    [fact] = of_kind(out, "fact")
    assert fact.event is Event.SUPERSEDE and fact.previous == "Alice likes tea"
    assert fact.reason is not None and "UPDATE gave no usable text" in fact.reason
    assert list((await _current(fine)).values()) == ["Alice likes green tea"]
    assert [h.event for h in await fine.history(tea)] == [Event.ADD, Event.SUPERSEDE]


async def test_a_refused_decision_names_the_memory_not_the_prompt_handle(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Fix: the reason said "memory [0] already changed by another fact": a number of the prompt.
    And fix: that fact was added as new and its turn marked done, "Alice likes green tea" and
    "Alice no longer likes tea" both current for good; it is unsettled now (the turn left due)."""
    [tea] = await _seed(fine, fake_llm, "Alice likes tea")
    fake_llm.reply_json(facts("Alice likes green tea", "Alice no longer likes tea"))
    fake_llm.reply_json(
        decisions(
            {"fact": 0, "event": "UPDATE", "target": 0, "text": "Alice likes green tea"},
            {"fact": 1, "event": "DELETE", "target": 0},
        )
    )
    out = await fine.add("Green tea; not plain tea", **ALICE, mode="fine")
    upd, refused = of_kind(out, "fact")
    assert (upd.event, upd.id) == (Event.UPDATE, tea)
    assert refused.event is Event.ADD and refused.reason == f"memory {tea} already changed by another fact"
    assert (await fine.get(tea)).valid_to is None  # the DELETE was not applied
    assert out.llm is not None and out.llm.incomplete is not None  # said, and the turn left due
    assert "no usable decision for 1 of 2" in out.llm.incomplete


async def test_an_extracted_fact_too_long_to_store_is_said_and_the_turn_stays_due(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Fix: the 100 kB fact was dropped without a word and the turn marked done."""
    answer = {"facts": [{"text": "x" * 100_000, "sources": [0]}, {"text": "Alice likes tea", "sources": [0]}]}
    fake_llm.reply_json({**answer, "relations": [], "refused_facts": 0})  # the model's count is not taken
    out = await fine.add("I like tea", **ALICE, mode="fine")
    assert [r.text for r in of_kind(out, "fact")] == ["Alice likes tea"]
    assert out.llm is not None and out.llm.fallback is None
    assert (
        out.llm.incomplete is not None and "1 extracted facts or relations were refused" in out.llm.incomplete
    )
    [episode] = of_kind(out, "episode")
    assert fine.storage.segments is not None
    [turn] = await fine.storage.segments.turns(memory_ids=[episode.id])
    assert turn.level < LEVEL_LLM


@pytest.mark.parametrize("target", [-1, 99, "abc", 1.0, True, "<bob's id>", "<alice's health-bot id>"])
async def test_a_decision_naming_no_shown_memory_touches_nothing(
    fine: AsyncMemory, fake_llm: Script, target: Any
) -> None:
    """(Passed before: coverage.) The model sees handles [0]..[n-1] only; a handle out of range, of
    another type, or a real id (another user's, or one of the user's another agent holds, never
    shown to this agent's write) changes nothing, and the refusal is said."""
    fake_llm.reply_json(facts("Bob likes tea"))
    [bobs] = of_kind(await fine.add("I like tea", user_id="bob", mode="fine"), "fact")
    fake_llm.reply_json(facts("Alice takes insulin"))
    [hidden] = of_kind(await fine.add("I take insulin", **ALICE, agent_id="health", mode="fine"), "fact")
    fake_llm.reply_json(facts("Alice likes tea"))
    [tea] = of_kind(await fine.add("I like tea", **ALICE, agent_id="diet", mode="fine"), "fact")
    ids = {"<bob's id>": bobs.id, "<alice's health-bot id>": hidden.id}
    target = ids.get(target, target) if isinstance(target, str) else target
    for event in ("UPDATE", "DELETE", "NOOP"):
        fake_llm.reply_json(facts(f"Alice likes tea with honey ({event})"))
        fake_llm.reply_json(decisions({"fact": 0, "event": event, "target": target, "text": "Bob hates tea"}))
        out = await fine.add(f"Tea with honey ({event})", **ALICE, agent_id="diet", mode="fine")
        [fact] = of_kind(out, "fact")
        assert fact.event is Event.ADD and fact.reason == f"{event} named no valid existing memory"
        assert out.llm is not None and "no usable decision for 1 of 1" in str(out.llm.incomplete)
        prompt = fake_llm.requests[-1].json["messages"][-1]["content"]
        assert "[0] Alice likes tea" in prompt and "insulin" not in prompt and "Bob" not in prompt
        assert bobs.id not in prompt and hidden.id not in prompt and tea.id not in prompt
    assert await _current(fine, "bob") == {bobs.id: "Bob likes tea"}
    assert (await fine.get(hidden.id)).text == "Alice takes insulin"
    for memory in (bobs, hidden, tea):
        assert [h.event for h in await fine.history(memory.id)] == [Event.ADD]
        assert (await fine.get(memory.id)).valid_to is None
    assert len(await _current(fine)) == 5  # insulin, tea and the three honey facts


async def test_a_fact_known_but_for_its_full_stop_is_not_stored_twice(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Fix: "Alice likes tea." (a rule's statement ends with one) and the model's "alice likes tea"
    were two current memories when the model said ADD, or when it was not asked."""
    [tea] = await _seed(fine, fake_llm, "Alice likes tea.")
    fake_llm.reply_json(facts("alice likes tea", "Alice likes scones!"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "ADD"}, {"fact": 1, "event": "ADD"}))
    out = await fine.add("Tea and scones for me", **ALICE, mode="fine")
    tea_again, scones = of_kind(out, "fact")
    assert (tea_again.event, tea_again.id) == (Event.NOOP, tea)
    assert scones.event == Event.ADD
    assert sorted((await _current(fine)).values()) == ["Alice likes scones!", "Alice likes tea."]
