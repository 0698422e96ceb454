"""What fine mode does and says when the model's decisions conflict with the add they belong to,
through ``add(mode="fine")``, ``get``, ``history`` and the graph against the scripted LLM vendor on
loopback (real HTTP, real SQLite).

Fixes (each test naming one failed on the code before it): a fact restating memory X word for
word was "already known as memory X" while another fact's decision of the same add ended X, and
the add answered both. Now the user's last word decides, as the timelines of homes do: X stated
again after the fact that ends it holds (the end refused, said, the turn left due); X stated
again before it ends, and the NOOP says so. A decision numbered as none of the new facts was
dropped without a word (the turn marked done); a relation tied to a fact that became a DELETE
was dropped without a word; and the SUPERSEDE that the one-home-at-a-time rule writes in fine
mode named no model, where the add's other entries name the one that extracted them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from memoryd import AsyncMemory
from memoryd.hierarchy.models import LEVEL_LLM
from memoryd.models import Event, Scope
from tests.fakes.llm_server import Script
from tests.fine.test_fine_mode import decisions, facts, of_kind

ALICE = {"user_id": "alice"}


def _label(fake_llm: Script) -> str:
    """How tests/fine/conftest.py's config names its LLM target: provider:model@host:port."""
    return f"openai:extractor@{urlsplit(fake_llm.base_url).netloc}"


async def _seed(fine: AsyncMemory, fake_llm: Script, text: str, **fact: Any) -> str:
    fake_llm.reply_json(facts(text, **fact))
    [memory] = [r for r in await fine.add(f"Note: {text}", **ALICE, mode="fine") if r.kind != "episode"]
    return str(memory.id)


async def _due(fine: AsyncMemory, out: Any) -> bool:
    """Whether the add's turns are left for the hierarchy to take through the LLM again."""
    assert fine.storage.segments is not None
    turns = await fine.storage.segments.turns(memory_ids=[e.id for e in of_kind(out, "episode")])
    return bool(turns) and all(t.level < LEVEL_LLM for t in turns)


def _said(*texts: str, **fact: Any) -> dict[str, Any]:
    """The extraction of one fact from each new message, in order."""
    return {"facts": [{"text": t, "sources": [i], **fact} for i, t in enumerate(texts)], "relations": []}


@pytest.mark.parametrize("event", ["DELETE", "SUPERSEDE"])
async def test_a_memory_restated_word_for_word_after_the_fact_that_ends_it_holds(
    fine: AsyncMemory, fake_llm: Script, event: str
) -> None:
    """Fix: the add answered "already known as memory X" for the later fact and ended X for the
    earlier one. The user's last word says X holds: the end is refused, said, and left due."""
    tea = await _seed(fine, fake_llm, "Alice likes tea")
    fake_llm.reply_json(_said("Alice no longer likes tea", "Alice likes tea"))
    # The model is shown the one fact not known word for word, as [0]
    fake_llm.reply_json(decisions({"fact": 0, "event": event, "target": 0}))
    out = await fine.add(["I don't like tea any more", "No wait, I do like tea"], **ALICE, mode="fine")
    assert "[0] Alice no longer likes tea" in fake_llm.requests[-1].json["messages"][-1]["content"]
    known, refused = of_kind(out, "fact")
    assert (known.event, known.id, known.reason) == (Event.NOOP, tea, f"already known as memory {tea}")
    assert refused.event is Event.ADD and refused.id != tea
    assert refused.reason == f"memory {tea} is stated again word for word later in this add"
    assert (await fine.get(tea)).valid_to is None  # what the user said last holds
    assert (await fine.get(refused.id)).valid_to is None  # and the other fact is kept, not lost
    assert [h.event for h in await fine.history(tea)] == [Event.ADD, Event.NOOP]
    assert out.llm is not None and "no usable decision for 1 of 1" in str(out.llm.incomplete)
    assert await _due(fine, out)  # left for the hierarchy to settle


async def test_a_memory_restated_word_for_word_before_the_fact_that_ends_it_says_it_ended(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Fix: the add answered "already known as memory X", nothing more, and ended X. The end
    said after stands ("I had a dog named Rex. I gave him away."); the NOOP says X ended."""
    tea = await _seed(fine, fake_llm, "Alice likes tea")
    fake_llm.reply_json(_said("Alice likes tea", "Alice no longer likes tea"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "DELETE", "target": 0}))
    out = await fine.add(["I liked tea", "but I don't like tea any more"], **ALICE, mode="fine")
    known, ending = of_kind(out, "fact")
    assert (known.event, known.id, ending.event, ending.id) == (Event.NOOP, tea, Event.DELETE, tea)
    assert known.reason == f'already known as memory {tea}; ended in this add by "Alice no longer likes tea"'
    assert (await fine.get(tea)).valid_to is not None
    assert [h.event for h in await fine.history(tea)] == [Event.ADD, Event.NOOP, Event.DELETE]
    assert out.llm is not None and out.llm.complete


async def test_a_home_restated_word_for_word_and_ended_by_the_next_one_says_so(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Fix: the model added Lyon, the one-home-at-a-time rule ended Paris, and the add answered
    "already known as memory X" for Paris, nothing more."""
    home = {"kind": "profile", "attribute": "location"}
    paris = await _seed(fine, fake_llm, "Alice lives in Paris", **home)
    fake_llm.reply_json(_said("Alice lives in Paris", "Alice lives in Lyon", **home))
    fake_llm.reply_json(decisions({"fact": 0, "event": "ADD"}))
    out = await fine.add(["I lived in Paris", "Now I live in Lyon"], **ALICE, mode="fine")
    known, lyon = of_kind(out, "profile")
    assert (known.event, known.id) == (Event.NOOP, paris)
    assert known.reason == f'already known as memory {paris}; ended in this add by "Alice lives in Lyon"'
    assert known.memory is not None and known.memory.valid_to is not None
    assert (lyon.event, lyon.reason) == (Event.SUPERSEDE, f"supersedes memory {paris}")
    assert (await fine.get(paris)).valid_to is not None and (await fine.get(lyon.id)).valid_to is None


async def test_an_update_of_a_memory_restated_word_for_word_still_merges(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """(Passed before: coverage.) An UPDATE keeps the memory current, merged: not refused."""
    tea = await _seed(fine, fake_llm, "Alice likes tea")
    fake_llm.reply_json(facts("Alice likes tea", "Alice likes her tea with honey"))
    fake_llm.reply_json(
        decisions({"fact": 0, "event": "UPDATE", "target": 0, "text": "Alice likes tea with honey"})
    )
    out = await fine.add("I like tea, with honey", **ALICE, mode="fine")
    known, merged = of_kind(out, "fact")
    assert (known.event, known.id, merged.event, merged.id) == (Event.NOOP, tea, Event.UPDATE, tea)
    stored = await fine.get(tea)
    assert (stored.text, stored.valid_to) == ("Alice likes tea with honey", None)
    assert out.llm is not None and out.llm.complete


async def test_a_decision_numbered_as_no_new_fact_is_said(fine: AsyncMemory, fake_llm: Script) -> None:
    """Fix: the decision for "fact 3" (of one new fact) was dropped without a word, the turn done."""
    tea = await _seed(fine, fake_llm, "Alice likes tea")
    fake_llm.reply_json(facts("Alice likes green tea"))
    fake_llm.reply_json(
        decisions(
            {"fact": 0, "event": "ADD"},
            {"fact": 3, "event": "DELETE", "target": 0},
            {"fact": 3, "event": "DELETE", "target": 0},  # said once
            {"fact": -1, "event": "ADD"},
        )
    )
    out = await fine.add("Green tea for me", **ALICE, mode="fine")
    [fact] = of_kind(out, "fact")
    assert (fact.event, fact.reason) == (Event.ADD, None)
    assert (await fine.get(tea)).valid_to is None  # nothing applied
    assert out.llm is not None and out.llm.incomplete == (
        "reconciliation gave 2 decisions for no new fact (numbered outside 0 to 0: "
        f"fact 3: DELETE of memory {tea}; fact -1: ADD); not applied (the turns are left for the "
        "hierarchy to reconcile again)"
    )
    assert await _due(fine, out)


async def test_a_relation_tied_to_a_delete_is_said_not_dropped_silently(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Fix: the relation was skipped without a word and the turn marked done."""
    acme = await _seed(fine, fake_llm, "Alice works at Acme")
    relation = {"source": "Alice", "relation": "left", "target": "Acme", "fact": 0}
    fake_llm.reply_json({**facts("Alice no longer works at Acme"), "relations": [relation]})
    fake_llm.reply_json(decisions({"fact": 0, "event": "DELETE", "target": 0}))
    out = await fine.add("I don't work at Acme any more", **ALICE, mode="fine")
    [fact] = of_kind(out, "fact")
    assert (fact.event, fact.id) == (Event.DELETE, acme)
    assert await fine.storage.graph.relations(Scope("alice"), include_expired=True) == []  # not stored
    assert out.llm is not None and out.llm.incomplete is not None
    assert "1 extracted relations were not stored" in out.llm.incomplete
    assert 'Alice left Acme (fact "Alice no longer works at Acme")' in out.llm.incomplete
    assert await _due(fine, out)


async def test_a_home_the_timeline_ends_names_the_model_that_extracted_the_next(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Fix: the SUPERSEDE that the one-home-at-a-time rule wrote in fine mode named no model,
    where the ADD of the home that ended it names the one that extracted it."""
    home = {"kind": "profile", "attribute": "location"}
    paris = await _seed(fine, fake_llm, "Alice lives in Paris", **home)
    fake_llm.reply_json(facts("Alice lives in Lyon", **home))
    fake_llm.reply_json(decisions({"fact": 0, "event": "ADD"}))  # the rule ends Paris, not the model
    out = await fine.add("I live in Lyon", **ALICE, mode="fine")
    [lyon] = of_kind(out, "profile")
    assert (lyon.event, lyon.previous) == (Event.SUPERSEDE, "Alice lives in Paris")
    ended = (await fine.history(paris))[-1]
    assert (ended.event, ended.actor, ended.new_text) == (
        Event.SUPERSEDE,
        "api:add/fine",
        "Alice lives in Lyon",
    )
    assert ended.details["extracted_by"] == _label(fake_llm)
    assert "decided_by" not in ended.details  # the rule decided, no model
    [added] = await fine.history(lyon.id)
    assert added.details["extracted_by"] == ended.details["extracted_by"]
