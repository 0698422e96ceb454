"""What fine mode reports of the model's reconciliation decisions, through ``add(mode="fine")`` and
``history`` against the scripted LLM vendor on loopback (real HTTP, real SQLite).

Fixes: a second decision for one extracted fact (an ADD and an UPDATE of it, two UPDATEs of two
memories) was dropped without a word, the fact's result and history saying nothing of it and its
turn marked done; and history entries of fine mode named the caller ("api:add/fine") but never
the model whose answer they follow.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from memoryd import AsyncMemory
from memoryd.hierarchy.models import LEVEL_LLM
from memoryd.models import Event
from tests.fakes.llm_server import Script
from tests.fine.test_fine_mode import decisions, facts, of_kind

ALICE = {"user_id": "alice"}
KNOWN = {"kind": {"in": ["fact", "preference", "profile"]}}


def _label(fake_llm: Script) -> str:
    """How the config of tests/fine/conftest.py names its one LLM target: provider:model@host:port."""
    return f"openai:extractor@{urlsplit(fake_llm.base_url).netloc}"


async def _seed(fine: AsyncMemory, fake_llm: Script, *texts: str) -> list[str]:
    fake_llm.reply_json(facts(*texts))
    out = await fine.add("Notes: " + "; ".join(texts), **ALICE, mode="fine")
    return [r.id for r in of_kind(out, "fact")]


async def _current(fine: AsyncMemory) -> dict[str, str]:
    page = await fine.get_all(**ALICE, filters=KNOWN)
    return {m.id: m.text for m in page.items}


async def _due(fine: AsyncMemory, episode: str) -> bool:
    """Whether the turn is left for the hierarchy to take through the LLM again."""
    assert fine.storage.segments is not None
    [turn] = await fine.storage.segments.turns(memory_ids=[episode])
    return turn.level < LEVEL_LLM


async def test_an_add_and_an_update_for_one_fact_apply_the_first_and_say_the_second(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Fix: the UPDATE was dropped without a word and the turn marked done."""
    [tea] = await _seed(fine, fake_llm, "Alice likes tea")
    fake_llm.reply_json(facts("Alice likes green tea"))
    fake_llm.reply_json(
        decisions(
            {"fact": 0, "event": "ADD"},
            {"fact": 0, "event": "UPDATE", "target": 0, "text": "Alice likes tea, green tea most"},
        )
    )
    out = await fine.add("Green tea is my favourite", **ALICE, mode="fine")
    [fact] = of_kind(out, "fact")  # the fact handled once
    assert fact.event is Event.ADD and fact.id != tea
    said = (
        f'the model also decided UPDATE of memory {tea} into "Alice likes tea, green tea most" '
        "for this fact, not applied (only its first is)"
    )
    assert fact.reason == said
    assert await _current(fine) == {tea: "Alice likes tea", fact.id: "Alice likes green tea"}
    assert [h.event for h in await fine.history(tea)] == [Event.ADD]  # the UPDATE not applied
    [added] = await fine.history(fact.id)
    assert (added.event, added.actor, added.details["not_applied"]) == (Event.ADD, "api:add/fine", said)
    assert out.llm is not None and out.llm.incomplete is not None
    assert "more than one decision for 1 of 1 new facts" in out.llm.incomplete
    [episode] = of_kind(out, "episode")
    assert await _due(fine, episode.id)


async def test_two_updates_of_two_memories_for_one_fact_apply_the_first_and_say_the_second(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Fix: the UPDATE of the second memory was dropped without a word."""
    tea, coffee = await _seed(fine, fake_llm, "Alice likes tea", "Alice likes coffee")
    fake_llm.reply_json(facts("Alice likes hot drinks"))
    fake_llm.reply_json(
        decisions(
            {"fact": 0, "event": "UPDATE", "target": 0, "text": "Alice likes tea and hot drinks"},
            {"fact": 0, "event": "UPDATE", "target": 1, "text": "Alice likes coffee and hot drinks"},
            {"fact": 0, "event": "UPDATE", "target": 1, "text": "Alice likes coffee and hot drinks"},
        )
    )
    out = await fine.add("I like hot drinks", **ALICE, mode="fine")
    prompt = fake_llm.requests[-1].json["messages"][-1]["content"]
    assert "[0] Alice likes tea" in prompt and "[1] Alice likes coffee" in prompt
    [fact] = of_kind(out, "fact")
    assert (fact.event, fact.id, fact.previous) == (Event.UPDATE, tea, "Alice likes tea")
    said = (
        f'the model also decided UPDATE of memory {coffee} into "Alice likes coffee and hot drinks" '
        "for this fact, not applied (only its first is)"
    )
    assert fact.reason == said  # said once, though the model repeated it
    assert await _current(fine) == {tea: "Alice likes tea and hot drinks", coffee: "Alice likes coffee"}
    assert [h.event for h in await fine.history(coffee)] == [Event.ADD]
    update = (await fine.history(tea))[-1]
    assert (update.event, update.details["not_applied"]) == (Event.UPDATE, said)
    assert update.details["decided_by"] == update.details["extracted_by"] == _label(fake_llm)
    assert out.llm is not None and "more than one decision for 1 of 1" in str(out.llm.incomplete)


async def test_a_refused_first_decision_names_the_second_too(fine: AsyncMemory, fake_llm: Script) -> None:
    """Fix: the first decision (a handle out of range) was refused and said, the second dropped."""
    [tea] = await _seed(fine, fake_llm, "Alice likes tea")
    fake_llm.reply_json(facts("Alice no longer likes tea"))
    fake_llm.reply_json(
        decisions({"fact": 0, "event": "DELETE", "target": 7}, {"fact": 0, "event": "DELETE", "target": 0})
    )
    out = await fine.add("Not tea any more", **ALICE, mode="fine")
    [fact] = of_kind(out, "fact")
    assert fact.event is Event.ADD
    assert fact.reason == (
        f"DELETE named no valid existing memory; the model also decided DELETE of memory {tea} "
        "for this fact, not applied (only its first is)"
    )
    assert (await fine.get(tea)).valid_to is None


async def test_a_decision_repeated_word_for_word_is_one_decision(fine: AsyncMemory, fake_llm: Script) -> None:
    """(Passed before: coverage.) The same decision twice is not a second one: nothing to say."""
    [tea] = await _seed(fine, fake_llm, "Alice likes tea")
    fake_llm.reply_json(facts("Alice no longer likes tea"))
    fake_llm.reply_json(decisions(*[{"fact": 0, "event": "DELETE", "target": 0}] * 2))
    out = await fine.add("Not tea any more", **ALICE, mode="fine")
    [fact] = of_kind(out, "fact")
    assert (fact.event, fact.id, fact.reason) == (Event.DELETE, tea, "no longer true; kept as history")
    assert out.llm is not None and out.llm.complete
    assert "not_applied" not in (await fine.history(tea))[-1].details


async def test_history_names_the_models_that_extracted_and_decided(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Fix: a history entry of fine mode said "api:add/fine" and nothing of the model."""
    label = _label(fake_llm)
    [tea] = await _seed(fine, fake_llm, "Alice likes tea")
    [first] = await fine.history(tea)  # nothing known before: added as extracted, no reconciliation
    assert (first.event, first.actor) == (Event.ADD, "api:add/fine")
    assert first.details["extracted_by"] == label and "decided_by" not in first.details

    fake_llm.reply_json(facts("Alice likes scones", "Alice likes tea"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "ADD"}))
    out = await fine.add("Scones; and tea, I said", **ALICE, mode="fine")
    again, scones = of_kind(out, "fact")
    assert (again.event, again.id, scones.event) == (Event.NOOP, tea, Event.ADD)
    known = (await fine.history(tea))[-1]  # said verbatim: known without asking the model
    assert (known.event, known.details["extracted_by"]) == (Event.NOOP, label)
    assert "decided_by" not in known.details
    [added] = await fine.history(scones.id)
    assert (added.actor, added.details["extracted_by"], added.details["decided_by"]) == (
        "api:add/fine",
        label,
        label,
    )
    [episode] = of_kind(out, "episode")
    [stored] = await fine.history(episode.id)  # the turn itself: no model made it
    assert stored.actor == "api:add/fine/episode" and "extracted_by" not in stored.details


async def test_an_unusable_reconciliation_names_no_deciding_model(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Fix (as above): reconciliation failed, so the fact added as extracted names the model that
    extracted it, and no deciding one."""
    await _seed(fine, fake_llm, "Alice likes tea")
    fake_llm.reply_json(facts("Alice likes green tea"))
    fake_llm.reply_text("no JSON here", times=2)
    out = await fine.add("Green tea now", **ALICE, mode="fine")
    [fact] = of_kind(out, "fact")
    assert fact.event is Event.ADD and out.llm is not None and out.llm.incomplete is not None
    [added] = await fine.history(fact.id)
    assert added.details["extracted_by"] == _label(fake_llm) and "decided_by" not in added.details


async def test_a_fact_the_model_left_undecided_names_no_deciding_model(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Fix (as above): of two facts the model decided one; the other, added as extracted, names
    the model that extracted it and no deciding one."""
    await _seed(fine, fake_llm, "Alice likes tea")
    fake_llm.reply_json(facts("Alice likes green tea", "Alice likes scones"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "ADD"}))
    out = await fine.add("Green tea and scones", **ALICE, mode="fine")
    green, scones = of_kind(out, "fact")
    assert (green.event, scones.event, scones.reason) == (Event.ADD, Event.ADD, "no decision returned")
    [decided] = await fine.history(green.id)
    [undecided] = await fine.history(scones.id)
    assert decided.details["decided_by"] == undecided.details["extracted_by"] == _label(fake_llm)
    assert "decided_by" not in undecided.details
