"""Words of an extraction answer the prompt did not ask for, read as meant, through
``add(mode="fine")`` against the scripted LLM vendor on loopback (real HTTP, real SQLite).

Fixes: a profile entry filed under another word for a home, workplace or name ("residence",
"employer", "full_name") kept that word, so a move the model ADDed under "residence" left the old
home ("location") current beside the new one: two homes at once; and a source numbered as a string
("1", "[1]") was dropped, the fact tied to every message of the add and dated by the first; and a
placeholder for no facts ("facts": "none", ["None"], [{"text": "N/A"}]) was stored as a memory.
"""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory
from tests.fakes.llm_server import Script
from tests.fine.test_fine_mode import decisions, facts

ALICE = {"user_id": "alice"}
PROFILE = {"kind": "profile"}


@pytest.mark.parametrize(
    ("first", "then", "attribute", "old", "new"),
    [
        ("location", "residence", "location", "Alice lives in Oslo", "Alice lives in Bergen"),
        ("home", "Current City", "location", "Alice lives in Oslo", "Alice lives in Bergen"),
        ("work", "employer", "work", "Alice works at Acme", "Alice works at Globex"),
        ("name", "full-name", "name", "Alice's name is Alice Lind", "Alice's name is Alice Berg"),
    ],
)
async def test_a_new_value_under_another_word_ends_the_old_one(
    fine: AsyncMemory, fake_llm: Script, first: str, then: str, attribute: str, old: str, new: str
) -> None:
    fake_llm.reply_json(facts(old, kind="profile", attribute=first))
    await fine.add("first", **ALICE, mode="fine")
    fake_llm.reply_json(facts(new, kind="profile", attribute=then))
    fake_llm.reply_json(decisions({"fact": 0, "event": "ADD", "target": None}))  # the model missed it
    await fine.add("then", **ALICE, mode="fine")
    current = (await fine.get_all(**ALICE, filters=PROFILE)).items
    assert [(m.text, m.metadata["attribute"]) for m in current] == [(new, attribute)]


async def test_a_hometown_is_not_the_home(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(facts("Alice lives in Oslo", kind="profile", attribute="location"))
    await fine.add("I live in Oslo", **ALICE, mode="fine")
    fake_llm.reply_json(facts("Alice grew up in Tromsø", kind="profile", attribute="hometown"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "ADD", "target": None}))
    await fine.add("I grew up in Tromsø", **ALICE, mode="fine")
    current = (await fine.get_all(**ALICE, filters=PROFILE)).items
    assert sorted((m.text, m.metadata["attribute"]) for m in current) == [
        ("Alice grew up in Tromsø", "hometown"),
        ("Alice lives in Oslo", "location"),
    ]


@pytest.mark.parametrize("source", ["1", "[1]", ["1"], ["[1]"]])
async def test_a_source_written_as_a_string_is_that_message(
    fine: AsyncMemory, fake_llm: Script, source: object
) -> None:
    """Fix: a source numbered as a string was dropped, so the fact was tied to every message of the
    add and dated by the first (a year too early here), not by the one that said it."""
    fake_llm.reply_json({"facts": [{"text": "Alice adopted a dog named Rex", "sources": source}]})
    said = [
        {"role": "user", "content": "Hello there", "timestamp": "2024-01-05T10:00:00Z"},
        {"role": "user", "content": "I adopted a dog named Rex", "timestamp": "2025-03-01T10:00:00Z"},
    ]
    out = await fine.add(said, **ALICE, mode="fine")
    episodes = [r.id for r in out if r.kind == "episode"]
    [fact] = [r for r in out if r.kind == "fact"]
    stored = await fine.get(fact.id)
    assert stored is not None
    assert list(stored.source_ids) == [episodes[1]]
    assert stored.valid_from.year == 2025


@pytest.mark.parametrize(
    "answer",
    [
        {"facts": "none", "relations": "none"},
        {"facts": ["None"], "relations": []},
        {"facts": [{"text": "N/A", "kind": "fact", "sources": [0]}], "relations": []},
        {"facts": ["No facts."], "relations": [None]},
        {"facts": "", "relations": []},
    ],
    ids=["none-strings", "none-item", "na-object", "no-facts-sentence", "empty-string"],
)
async def test_a_placeholder_for_no_facts_stores_no_memory(
    fine: AsyncMemory, fake_llm: Script, answer: dict[str, object]
) -> None:
    """Fix: "facts": "none" (or ["None"], {"text": "N/A"}) was read as a fact, and a memory whose
    text is "none" was stored; an empty string was refused, asked again and fell back to fast mode."""
    fake_llm.reply_json(answer)
    out = await fine.add("Hello there!", **ALICE, mode="fine")
    assert [r.kind for r in out] == ["episode"]
    assert (out.llm.fallback, out.llm.incomplete) == (None, None)
    assert len(fake_llm.requests) == 1


async def test_a_placeholder_beside_a_fact_leaves_the_fact(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json({"facts": ["none", "Alice has a cat named Tom"], "relations": ["none"]})
    out = await fine.add("I have a cat named Tom", **ALICE, mode="fine")
    assert [r.text for r in out if r.kind == "fact"] == ["Alice has a cat named Tom"]
    assert out.llm.incomplete is None
