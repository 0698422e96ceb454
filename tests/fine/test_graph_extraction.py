"""Relations the extraction LLM returns: what cannot be stored is dropped or blanked, never the add."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from memoryd import AsyncMemory
from memoryd.ingest.extract import Extraction
from memoryd.models import Scope
from tests.fakes.llm_server import Script

GOOD = {"source": "Alice", "relation": "likes", "target": "tea"}


@pytest.mark.parametrize(
    "bad",
    [
        {"source": "Ali\ud800ce"},  # a lone surrogate: not UTF-8
        {"relation": "lik\udc00es"},
        {"target": "t\ud83cea"},
        {"source": "Al\x00ice"},  # NUL
        {"target": "te\x07a"},  # another control character
        {"relation": "likes\x1b[0m"},
        {"source": "A" * 201},
        {"relation": "x" * 1_000_000},
        {"source": "   "},
        {"target": 42},
    ],
    ids=repr,
)
def test_a_relation_with_a_name_that_cannot_be_stored_is_dropped(bad: dict[str, Any]) -> None:
    out = Extraction.model_validate({"relations": [{**GOOD, **bad}, {**GOOD, "target": "coffee"}]})
    assert [(r.source, r.relation, r.target) for r in out.relations] == [("Alice", "likes", "coffee")]


@pytest.mark.parametrize(
    "bad", ["bev\ud800erage", "x" * 1_000_000, "x" * 51, "dr\x00ink", "dr\x7fink", " ", 7]
)
def test_a_type_that_cannot_be_stored_is_none(bad: object) -> None:
    [rel] = Extraction.model_validate(
        {"relations": [{**GOOD, "source_type": bad, "target_type": bad}]}
    ).relations
    assert (rel.source, rel.target, rel.source_type, rel.target_type) == ("Alice", "tea", None, None)


def test_names_and_types_are_tidied_like_fact_text() -> None:
    [rel] = Extraction.model_validate(
        {
            "relations": [
                {
                    "source": " Alice\n Smith ",
                    "source_type": "\tperson ",
                    "relation": "likes",
                    "target": "tea",
                }
            ]
        }
    ).relations
    assert (rel.source, rel.source_type) == ("Alice Smith", "person")


async def test_an_unstorable_relation_field_loses_nothing_else(fine: AsyncMemory, fake_llm: Script) -> None:
    """A lone surrogate in a type used to fail the whole add (UnicodeEncodeError, a 500), losing
    the message; a runaway type was stored, NUL in a name too."""
    fake_llm.reply_json(
        {
            "facts": [{"text": "Alice drinks tea and coffee", "sources": [0]}],
            "relations": [
                {**GOOD, "relation": "drinks", "target_type": "bev\ud800erage", "fact": 0},
                {**GOOD, "relation": "drinks", "target": "coffee", "source_type": "x" * 1_000_000, "fact": 0},
                {**GOOD, "source": "Al\x00ice", "target": "milk", "fact": 0},
                {**GOOD, "relation": "lik\udc00es", "target": "juice", "fact": 0},
            ],
        }
    )
    out = await fine.add("I drink tea and coffee.", user_id="alice")
    assert out.llm is not None and out.llm.fallback is None and out.relations is not None
    assert sorted((r["source"], r["relationship"], r["target"]) for r in out.relations["added_entities"]) == [
        ("Alice", "drinks", "coffee"),
        ("Alice", "drinks", "tea"),
    ]
    assert sorted(r.kind for r in out) == ["episode", "fact"]
    assert (await fine.get_all(user_id="alice")).total == 2
    entities = await fine.storage.graph.entities(Scope("alice"))
    assert sorted((e.name, e.type) for e in entities) == [("Alice", None), ("coffee", None), ("tea", None)]


async def test_a_relation_of_history_added_late_ends_with_its_memory(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(
        {
            "facts": [{"text": "Alice lives in London", "sources": [0]}],
            "relations": [{"source": "Alice", "relation": "lives_in", "target": "London", "fact": 0}],
        }
    )
    await fine.add("I live in London.", user_id="alice", timestamp="2024-06-01T09:00:00Z")
    fake_llm.reply_json(  # older history, told later: in 2023 she lived in Paris
        {
            "facts": [{"text": "Alice lives in Paris", "sources": [0]}],
            "relations": [{"source": "Alice", "relation": "lives_in", "target": "Paris", "fact": 0}],
        }
    )
    fake_llm.reply_json({"decisions": [{"fact": 0, "event": "SUPERSEDE", "target": 0}]})
    await fine.add("I live in Paris.", user_id="alice", timestamp="2023-01-01T09:00:00Z")
    now = await fine.storage.graph.neighbours(Scope("alice"), ["Alice"])
    assert [(r.relation, r.target.name) for r in now] == [("lives_in", "London")]
    then = await fine.storage.graph.neighbours(Scope("alice"), ["Alice"], as_of=datetime(2023, 6, 1, tzinfo=UTC))
    assert [(r.relation, r.target.name) for r in then] == [("lives_in", "Paris")]


async def test_relations_without_facts_are_kept_as_of_when_they_were_said(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    fake_llm.reply_json(
        {"facts": [], "relations": [{"source": "Carol", "relation": "sister_of", "target": "Dana"}]}
    )
    out = await fine.add("Carol is Dana's sister.", user_id="carol", timestamp="2024-01-10T09:00:00Z")
    assert out.relations is not None and out.relations["added_entities"] == [
        {"source": "Carol", "relationship": "sister_of", "target": "Dana"}
    ]
    [rel] = await fine.storage.graph.neighbours(Scope("carol"), ["Carol"])
    assert rel.memory_id == out[0].id  # asserted by the episode itself
    assert rel.valid_from == datetime(2024, 1, 10, 9, tzinfo=UTC)  # when it was said, not when stored


async def test_a_dropped_fact_leaves_each_relation_with_its_own_fact(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(
        {
            "facts": ["   ", "Ana lives in Paris", "Ana works at Acme"],  # the first cannot be a fact
            "relations": [
                {"source": "Ana", "relation": "lives_in", "target": "Paris", "fact": 1},
                {"source": "Ana", "relation": "works_at", "target": "Acme", "fact": 2},
            ],
        }
    )
    out = await fine.add("I live in Paris and work at Acme.", user_id="ana")
    text_of = {r.id: r.text for r in out}
    asserted = {r.relation: text_of.get(r.memory_id) for r in await fine.storage.graph.neighbours(Scope("ana"), ["Ana"])}
    assert asserted == {"lives_in": "Ana lives in Paris", "works_at": "Ana works at Acme"}
    acme = next(r.id for r in out if r.text == "Ana works at Acme")
    fake_llm.reply_json(
        {
            "facts": [{"text": "Ana works at Globex", "sources": [0]}],
            "relations": [{"source": "Ana", "relation": "works_at", "target": "Globex", "fact": 0}],
        }
    )
    known = [m.id for m in (await fine.get_all(user_id="ana", filters={"kind": "fact"})).items]
    fake_llm.reply_json({"decisions": [{"fact": 0, "event": "SUPERSEDE", "target": known.index(acme)}]})
    await fine.add("I now work at Globex.", user_id="ana")
    now = await fine.storage.graph.neighbours(Scope("ana"), ["Ana"])
    assert sorted((r.relation, r.target.name) for r in now) == [("lives_in", "Paris"), ("works_at", "Globex")]


async def test_the_same_fact_twice_in_one_extraction_is_one_memory(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(
        {"facts": [{"text": "Ana likes tea", "sources": [0]}, {"text": "Ana likes tea", "sources": [1]}]}
    )
    out = await fine.add(["I like tea.", "Tea is my favourite."], user_id="ana")
    [fact] = [r for r in out if r.kind == "fact"]
    assert fact.event.value == "ADD" and len(fact.sources) == 2  # said in both messages
    assert (await fine.get_all(user_id="ana", filters={"kind": "fact"})).total == 1


@pytest.mark.parametrize(
    "answer",
    [
        {"result": {"facts": [{"text": "Ana keeps bees"}]}},  # wrapped: unwrapped
        {"memories": ["Ana keeps bees"]},  # another schema: asked again
        {"facts": [{"fact": "Ana keeps bees"}]},  # every item of the wrong shape: asked again
    ],
    ids=["wrapped", "other-schema", "wrong-items"],
)
async def test_an_extraction_of_another_shape_is_not_taken_for_no_facts(
    fine: AsyncMemory, fake_llm: Script, answer: dict[str, Any]
) -> None:
    fake_llm.reply_json(answer)
    fake_llm.reply_json({"facts": [{"text": "Ana keeps bees", "sources": [0]}]})  # the re-ask, if made
    out = await fine.add("I keep bees.", user_id="ana")
    assert [r.text for r in out if r.kind == "fact"] == ["Ana keeps bees"]
    assert out.llm is not None and out.llm.fallback is None
