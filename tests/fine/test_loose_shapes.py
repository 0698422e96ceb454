"""Answers of real models that say what was asked in a looser shape than the prompt's, through
``add(mode="fine")`` against the scripted LLM vendor on loopback (real HTTP, real SQLite).

Fixes: a decision numbering its new fact as the prompt shows it ("fact": "[0]", as "target" was
already read) was refused, so the fact was added beside the memory it restates, a second copy; a
lone decision given without its list ({"fact": 0, ...}, or "decisions" holding one object) was
refused twice and its fact added as new; and an extraction answered with its list of facts alone
(no wrapping object) was refused twice, the add falling back to fast mode and keeping no fact.
"""

from __future__ import annotations

from typing import Any

import pytest

from memoryd import AsyncMemory
from memoryd.models import Event
from tests.fakes.llm_server import Script
from tests.fine.test_fine_mode import decisions, facts, of_kind

ALICE = {"user_id": "alice"}
KNOWN = {"kind": {"in": ["fact", "preference", "profile"]}}


async def _current(fine: AsyncMemory) -> list[str]:
    page = await fine.get_all(**ALICE, filters=KNOWN)
    return sorted(m.text for m in page.items)


@pytest.mark.parametrize(
    "answer",
    [
        decisions({"fact": "[0]", "event": "NOOP", "target": "[0]"}),
        decisions({"fact": "0", "event": "NOOP", "target": 0}),
        decisions({"fact": [0], "event": "NOOP", "target": [0]}),
        {"fact": 0, "event": "NOOP", "target": 0},
        {"decisions": {"fact": 0, "event": "NOOP", "target": 0}},
        {"decision": {"fact": 0, "event": "NOOP", "target": 0}},
    ],
    ids=["fact-as-handle", "fact-as-string", "fact-as-list", "bare", "one-object", "wrapped"],
)
async def test_a_decision_in_a_loose_shape_is_read_as_meant(
    fine: AsyncMemory, fake_llm: Script, answer: dict[str, Any]
) -> None:
    fake_llm.reply_json(facts("Alice is a nurse"))
    [nurse] = of_kind(await fine.add("I am a nurse", **ALICE, mode="fine"), "fact")
    fake_llm.reply_json(facts("Alice works as a nurse"))
    fake_llm.reply_json(answer, times=2)  # asked again once: the same answer
    out = await fine.add("I work as a nurse", **ALICE, mode="fine")
    [same] = of_kind(out, "fact")
    assert (same.event, same.id) == (Event.NOOP, nurse.id), same.reason
    assert out.llm.incomplete is None
    assert await _current(fine) == ["Alice is a nurse"]  # no second copy
    assert [h.event for h in await fine.history(nurse.id)] == [Event.ADD, Event.NOOP]


async def test_an_extraction_answered_as_its_list_of_facts_keeps_them(fine: AsyncMemory, fake_llm: Script) -> None:
    answer = [
        {"text": "Alice is a nurse", "kind": "profile", "attribute": "work", "sources": [0]},
        "Alice likes jazz",
        {"source": "Alice", "relation": "likes", "target": "jazz", "fact": 1},
    ]
    fake_llm.reply_json(answer, times=2)
    out = await fine.add("I am a nurse and I like jazz", **ALICE, mode="fine")
    assert out.llm.fallback is None
    assert [(r.event, r.text) for r in out if r.kind != "episode"] == [
        (Event.ADD, "Alice is a nurse"),
        (Event.ADD, "Alice likes jazz"),
    ]
    assert await _current(fine) == ["Alice is a nurse", "Alice likes jazz"]
    assert [e["relationship"] for e in out.relations["added_entities"]] == ["likes"]


async def test_an_empty_list_for_an_extraction_is_nothing_to_remember(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json([], times=2)
    out = await fine.add("Hello there", **ALICE, mode="fine")
    assert (out.llm.fallback, out.llm.incomplete, out.llm.calls) == (None, None, 1)
    assert [r.kind for r in out] == ["episode"]


@pytest.mark.parametrize("key", ["fact", "content", "memory"])
async def test_a_fact_whose_text_is_under_another_common_key_is_kept(
    fine: AsyncMemory, fake_llm: Script, key: str
) -> None:
    """Fix: every fact was refused (no "text"), the answer asked again and the add fell back to fast
    mode, no fact kept; an item holding no string under any of these keys is still refused."""
    answer = {"facts": [{key: "Alice likes jazz", "sources": [0]}, {key: 5}, {"fact": None}], "relations": []}
    fake_llm.reply_json(answer, times=2)
    out = await fine.add("I like jazz", **ALICE, mode="fine")
    assert out.llm.fallback is None
    assert [(r.event, r.text) for r in of_kind(out, "fact")] == [(Event.ADD, "Alice likes jazz")]
    assert "2 extracted facts or relations were refused" in str(out.llm.incomplete)
