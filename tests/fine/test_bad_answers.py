"""Fine mode against answers that look usable and are not (found in a review of fine mode).

Each test failed on the code before its fix: the broken text was stored, a cut answer passed
for a whole one, an echoed format was taken for the answer, a restated fact went with the turn
that first said it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.hierarchy.models import LEVEL_LLM
from memoryd.models import Event, Scope
from tests.fakes.llm_server import Reply, Script
from tests.fine.conftest import llm_settings
from tests.fine.test_fine_mode import decisions, facts, of_kind

ALICE = {"user_id": "alice"}


async def test_a_quote_left_unescaped_is_asked_again_not_stored_cut(fine: AsyncMemory, fake_llm: Script) -> None:
    # Repaired as {"text": "Alice is ", "not": " a vegetarian anymore"}: the fact stored was "Alice is".
    fake_llm.reply_text('{"facts": [{"text": "Alice is "not" a vegetarian anymore", "sources": [0]}], "relations": []}')
    fake_llm.reply_json(facts('Alice is "not" a vegetarian anymore'))
    out = await fine.add("I'm not a vegetarian anymore", **ALICE)
    [fact] = of_kind(out, "fact")
    assert fact.text == 'Alice is "not" a vegetarian anymore'
    assert out.llm is not None and out.llm.calls == 2 and out.llm.fallback is None
    assert "unescaped quote" in fake_llm.requests[1].json["messages"][-1]["content"]


async def test_an_answer_that_stays_broken_stores_the_turn_and_no_fragment(fine: AsyncMemory, fake_llm: Script) -> None:
    broken = "{'facts': [{'text': 'Alice's sister Emma is a nurse', 'sources': [0]}], 'relations': []}"
    fake_llm.reply_text(broken, times=4)
    out = await fine.add("My sister Emma is a nurse", **ALICE)
    assert [r.kind for r in out] == ["episode"]  # no "Alice" fact
    assert out.llm is not None and "unescaped quote" in str(out.llm.fallback)


async def test_an_echoed_format_before_the_answer_is_not_taken_for_it(fine: AsyncMemory, fake_llm: Script) -> None:
    answer = json.dumps(facts("Dan is a pilot"))
    fake_llm.reply_text(f'I will answer in the format {{"facts": [], "relations": []}}. Answer: {answer}')
    out = await fine.add("Dan flies planes for a living", **ALICE)
    assert [r.text for r in of_kind(out, "fact")] == ["Dan is a pilot"]


async def test_an_answer_cut_at_the_token_limit_says_so_and_leaves_the_turn_due(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    # Two facts asked, the second cut off: one stored, fallback None, the turn marked done.
    cut = '{"facts": [{"text": "Alice has a cat", "sources": [0]}, {"text": "Alice has a do'
    fake_llm.push(Reply(text=cut, finish_reason="length"))
    out = await fine.add("I have a cat and a dog", **ALICE)
    assert [r.text for r in of_kind(out, "fact")] == ["Alice has a cat"]
    assert out.llm is not None and out.llm.fallback is None
    assert out.llm.incomplete is not None and "token limit" in out.llm.incomplete
    assert out.llm.to_dict()["incomplete"] == out.llm.incomplete
    [episode] = of_kind(out, "episode")
    assert fine.storage.segments is not None
    [turn] = await fine.storage.segments.turns(memory_ids=[episode.id])
    assert turn.level < LEVEL_LLM  # due for another pass


async def test_a_restated_fact_keeps_standing_when_the_first_turn_goes(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(facts("Alice lives in Porto"))
    first = await fine.add("I live in Porto", **ALICE, run_id="s1")
    [fact] = of_kind(first, "fact")
    fake_llm.reply_json(facts("Alice lives in Porto"))  # said again: known verbatim, no reconciliation
    again = await fine.add("Porto is where I live", **ALICE, run_id="s2")
    [noop] = of_kind(again, "fact")
    assert (noop.event, noop.id) == (Event.NOOP, fact.id)
    [ep1], [ep2] = of_kind(first, "episode"), of_kind(again, "episode")
    assert (await fine.get(fact.id)).source_ids == (ep1.id, ep2.id)
    assert [e.event for e in await fine.history(fact.id)] == [Event.ADD, Event.NOOP]


async def test_contradictory_or_empty_decisions_are_straightened(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(facts("Alice is a nurse"))
    [nurse] = of_kind(await fine.add("I am a nurse", **ALICE), "fact")
    fake_llm.reply_json(facts("Alice is a nurse at Mercy", "Alice nurses at Mercy"))
    fake_llm.reply_json(
        decisions(
            {"fact": 0, "event": "SUPERSEDE", "target": 0},
            {"fact": 1, "event": "NOOP", "target": 0},  # "known as" the memory fact 0 ends
        )
    )
    out = of_kind(await fine.add("I'm a nurse at Mercy now", **ALICE), "fact")
    assert [(r.event, r.text) for r in out] == [
        (Event.SUPERSEDE, "Alice is a nurse at Mercy"),
        (Event.ADD, "Alice nurses at Mercy"),  # not "already known as" the memory just ended
    ]
    assert (await fine.get(nurse.id)).valid_to is not None  # superseded
    fake_llm.reply_json(facts("Bob is a nurse"))
    [bob] = of_kind(await fine.add("I am a nurse", user_id="bob"), "fact")
    fake_llm.reply_json(facts("Bob works nights"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "UPDATE", "target": 0, "text": "Bob is a nurse"}))
    [same] = of_kind(await fine.add("I work nights", user_id="bob"), "fact")
    assert (same.event, same.id) == (Event.NOOP, bob.id)  # an "update" to the text it has
    assert [e.event for e in await fine.history(bob.id)] == [Event.ADD, Event.NOOP]


async def test_a_dead_llm_falls_back_to_fast_mode_rules_included(fine: AsyncMemory, fake_llm: Script) -> None:
    """The fallback said "fast mode" but stored the episodes only: during an LLM outage no profile
    or preference was kept, which a fast-mode add of the same words keeps."""
    fake_llm.fail(503, times=10)
    out = await fine.add("I work at Acme and I love green tea", **ALICE)
    assert out.llm is not None and "stored as in fast mode" in str(out.llm.fallback)
    assert sorted((r.kind, r.text) for r in out if r.kind != "episode") == [
        ("preference", "The user loves green tea."),
        ("profile", "The user works at Acme."),
    ]
    [episode] = of_kind(out, "episode")
    assert fine.storage.segments is not None
    [turn] = await fine.storage.segments.turns(memory_ids=[episode.id])
    assert turn.level < LEVEL_LLM  # the LLM still has to see it


async def test_a_write_for_an_agent_reconciles_with_the_users_shared_memories_only(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """A write naming an agent never saw the user's shared (agentless) facts: two homes stayed
    current. And an agentless write could close an agent's own memory."""
    fake_llm.reply_json(facts("Alice lives in Porto"))
    [porto] = of_kind(await fine.add("I live in Porto", **ALICE), "fact")
    relation = {"source": "Alice", "relation": "lives_in", "target": "Lisbon", "fact": 0}
    fake_llm.reply_json({**facts("Alice lives in Lisbon"), "relations": [relation]})
    fake_llm.reply_json(decisions({"fact": 0, "event": "SUPERSEDE", "target": 0}))
    moved = await fine.add("I moved to Lisbon", **ALICE, agent_id="travel-bot")
    [lisbon] = of_kind(moved, "fact")
    assert lisbon.event is Event.SUPERSEDE
    assert "Alice lives in Porto" in fake_llm.requests[-1].json["messages"][-1]["content"]
    assert (await fine.get(porto.id)).valid_to is not None
    # what replaced a shared memory is shared: a later write naming no agent sees (and moves) it
    assert (await fine.get(lisbon.id)).agent_id is None
    # and so is what it asserts: the user's relation, not the travel bot's
    [home] = await fine.storage.graph.relations(Scope("alice"))
    assert (home.target.name, home.source.agent_id, home.target.agent_id) == ("Lisbon", None, None)
    # the travel bot reads that shared relation (no copy of its own)
    assert [r.id for r in await fine.storage.graph.relations(Scope("alice", "travel-bot"))] == [home.id]
    fake_llm.reply_json(facts("Alice lives in Madrid"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "SUPERSEDE", "target": 0}))
    [madrid] = of_kind(await fine.add("I moved to Madrid", **ALICE), "fact")
    assert madrid.event is Event.SUPERSEDE and (await fine.get(lisbon.id)).valid_to is not None
    # the bot's own memory is not the shared write's to change
    fake_llm.reply_json(facts("Alice takes insulin"))
    [bots] = of_kind(await fine.add("I take insulin", **ALICE, agent_id="health-bot"), "fact")
    calls = len(fake_llm.requests)
    fake_llm.reply_json(facts("Alice stopped taking insulin"))
    shared = await fine.add("I stopped taking insulin", **ALICE)
    prompts = [m["content"] for r in fake_llm.requests[calls:] for m in r.json["messages"]]
    assert not any("Alice takes insulin" in p for p in prompts)  # never shown the bot's own memory
    assert [r.event for r in of_kind(shared, "fact")] == [Event.ADD]
    assert (await fine.get(bots.id)).valid_to is None


async def test_a_long_add_is_extracted_in_windows_that_fit_the_prompt(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder
) -> None:
    """One add of many long messages was one prompt (600k characters: refused as too long, and
    every fact lost)."""
    settings = llm_settings(tmp_path, fake_llm.base_url, max_attempts=1)
    settings = settings.model_copy(update={"fine": settings.fine.model_copy(update={"max_prompt_chars": 1000})})
    said = [f"Message {i}: " + "I like long walks on the beach. " * 18 for i in range(3)]  # ~600 chars each
    fake_llm.reply_json(facts("Alice likes long walks"))
    fake_llm.reply_text("no facts here, sorry", times=2)  # the middle window stays unusable
    fake_llm.reply_json(
        {
            "facts": [{"text": "Alice walks on the beach", "sources": [0]}],
            "relations": [{"source": "Alice", "relation": "walks_on", "target": "beach", "fact": 0}],
        }
    )
    async with AsyncMemory(settings, embedder=embedder) as mem:
        out = await mem.add(said, **ALICE)
    episodes = of_kind(out, "episode")
    got = {r.text: r.sources for r in of_kind(out, "fact")}
    assert got == {"Alice likes long walks": (episodes[0].id,), "Alice walks on the beach": (episodes[2].id,)}
    prompts = [r.json["messages"][1]["content"] for r in fake_llm.requests]  # [1]: the extraction prompt
    assert len(prompts) == 4 and all(p.count("Message ") == 1 for p in prompts)  # one message per window
    assert out.llm is not None and out.llm.fallback is None and "messages 1-1" in str(out.llm.incomplete)
    assert [(r["source"], r["target"]) for r in out.relations["added_entities"]] == [("Alice", "beach")]


async def test_a_relation_tied_to_no_fact_ends_with_the_fact_that_names_it(fine: AsyncMemory, fake_llm: Script) -> None:
    """A relation given "fact": null was tied to the episode: when the fact it stated was
    superseded, the graph kept both homes current."""
    fake_llm.reply_json(
        {
            "facts": [{"text": "Alice lives in Paris", "sources": [0]}],
            "relations": [{"source": "Alice", "relation": "lives_in", "target": "Paris", "fact": None}],
        }
    )
    [paris] = of_kind(await fine.add("I live in Paris", **ALICE), "fact")
    fake_llm.reply_json(
        {
            "facts": [{"text": "Alice lives in Berlin", "sources": [0]}],
            "relations": [{"source": "Alice", "relation": "lives_in", "target": "Berlin", "fact": 0}],
        }
    )
    fake_llm.reply_json(decisions({"fact": 0, "event": "SUPERSEDE", "target": 0}))
    await fine.add("I moved to Berlin", **ALICE)
    assert (await fine.get(paris.id)).valid_to is not None
    current = await fine.storage.graph.relations(Scope(user_id="alice"))
    assert [(r.relation, r.target.name) for r in current] == [("lives_in", "Berlin")]


async def test_common_ways_of_saying_a_decision_are_read_as_meant(fine: AsyncMemory, fake_llm: Script) -> None:
    """mem0's prompt says "NONE" for no change, and models write handles as in the prompt ("[0]"):
    both were read as an ADD, a duplicate of what was known."""
    fake_llm.reply_json(facts("Alice is a nurse"))
    [nurse] = of_kind(await fine.add("I am a nurse", **ALICE), "fact")
    fake_llm.reply_json(facts("Alice works as a nurse"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "NONE", "target": "[0]"}))
    [same] = of_kind(await fine.add("I work as a nurse", **ALICE), "fact")
    assert (same.event, same.id) == (Event.NOOP, nurse.id)
    assert (await fine.get_all(**ALICE, filters={"kind": "fact"})).total == 1


async def test_a_fact_restating_a_memory_another_fact_updates_stays_known(fine: AsyncMemory, fake_llm: Script) -> None:
    """Straightening NOOPs on changed memories turned one on an UPDATEd memory into an ADD: a
    duplicate beside the merged memory, which stays current."""
    fake_llm.reply_json(facts("Alice is a nurse"))
    [nurse] = of_kind(await fine.add("I am a nurse", **ALICE), "fact")
    fake_llm.reply_json(facts("Alice is a nurse at Mercy", "Alice works as a nurse"))
    fake_llm.reply_json(
        decisions(
            {"fact": 0, "event": "UPDATE", "target": 0, "text": "Alice is a nurse at Mercy"},
            {"fact": 1, "event": "NOOP", "target": 0},
        )
    )
    out = of_kind(await fine.add("I'm a nurse at Mercy", **ALICE), "fact")
    assert [(r.event, r.id) for r in out] == [(Event.UPDATE, nurse.id), (Event.NOOP, nurse.id)]
    assert (await fine.get_all(**ALICE, filters={"kind": "fact"})).total == 1


def test_each_part_left_undone_is_kept() -> None:
    from memoryd.models import LLMUsage

    usage = LLMUsage()
    usage.fell_short("cut at the token limit")
    usage.fell_short("reconciliation unusable")
    assert usage.incomplete == "cut at the token limit; reconciliation unusable" and not usage.complete


async def test_a_relation_tied_to_no_fact_matches_whole_words_only(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(
        {
            "facts": [{"text": "Alice lives in Paris", "sources": [0]}],
            "relations": [{"source": "Al", "relation": "visited", "target": "Paris", "fact": None}],
        }
    )
    out = await fine.add("Al and I went to Paris", **ALICE)
    [episode] = of_kind(out, "episode")
    [relation] = await fine.storage.graph.relations(Scope(user_id="alice"))
    assert relation.memory_id == episode.id  # not the fact about Alice


async def test_one_home_at_a_time_whatever_the_model_decided(fine: AsyncMemory, fake_llm: Script) -> None:
    """A reconciliation that failed (or chose ADD) left two current homes; fast mode's rule of one
    home at a time now holds in fine mode too."""
    home = {"kind": "profile", "attribute": "location"}

    def lives_in(city: str) -> dict[str, Any]:
        relation = {"source": "Alice", "relation": "lives_in", "target": city, "fact": 0}
        return {**facts(f"Alice lives in {city}", **home), "relations": [relation]}

    fake_llm.reply_json(lives_in("Lisbon"))
    [lisbon] = of_kind(await fine.add("I live in Lisbon", **ALICE, timestamp="2024-01-01T00:00:00Z"), "profile")
    fake_llm.reply_json(lives_in("Madrid"))
    fake_llm.reply_text("no idea", times=4)  # reconciliation unusable: added as new
    out = await fine.add("I moved to Madrid", **ALICE, timestamp="2024-06-01T00:00:00Z")
    [madrid] = of_kind(out, "profile")
    assert (madrid.event, madrid.previous) == (Event.SUPERSEDE, "Alice lives in Lisbon")
    current = (await fine.get_all(**ALICE, filters={"kind": "profile"})).items
    assert [m.text for m in current] == ["Alice lives in Madrid"]
    assert (await fine.get(lisbon.id, user_id="alice")).valid_to is not None  # kept as history
    # and so is what it asserted: one home in the graph too
    relations = await fine.storage.graph.relations(Scope(user_id="alice"), include_expired=True)
    assert sorted((r.target.name, r.is_current) for r in relations) == [("Lisbon", False), ("Madrid", True)]
