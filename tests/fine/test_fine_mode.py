"""Fine mode end to end: extraction, each reconciliation outcome, and failure of the LLM.

The LLM is the scripted vendor on loopback; memoryd's real router and client
talk to it over HTTP. Storage and embeddings are real.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory, NotSupportedError
from memoryd.embedders.use import USEEmbedder
from memoryd.hierarchy.models import LEVEL_LLM
from memoryd.ingest import fine as fine_module
from memoryd.models import Event, MemoryKind
from tests.fakes.llm_server import Reply, Script
from tests.fine.conftest import llm_settings

ALICE = {"user_id": "alice"}


def facts(*texts: str, kind: str = "fact", **extra: Any) -> dict[str, Any]:
    return {"facts": [{"text": t, "kind": kind, "sources": [0], **extra} for t in texts], "relations": []}


def decisions(*items: dict[str, Any]) -> dict[str, Any]:
    return {"decisions": list(items)}


def of_kind(results: list[Any], kind: str) -> list[Any]:
    return [r for r in results if r.kind == kind]


async def test_editing_a_fact_ends_the_relations_its_old_text_asserted(fine: AsyncMemory, fake_llm: Script) -> None:
    from memoryd.models import Scope

    relation = {"source": "Alice", "relation": "works_at", "target": "Google", "fact": 0}
    fake_llm.reply_json({**facts("Alice works at Google"), "relations": [relation]})
    [fact] = of_kind(await fine.add("Alice works at Google.", **ALICE), "fact")
    [before] = await fine.storage.graph.relations(Scope("alice"))
    assert before.target.name == "Google"
    await fine.update(fact.id, "Alice works at Microsoft", **ALICE)
    assert await fine.storage.graph.relations(Scope("alice")) == []  # not Google, as if still said
    [ended] = await fine.storage.graph.relations(Scope("alice"), include_expired=True)
    assert ended.target.name == "Google" and ended.valid_to is not None  # kept for as_of


async def test_extracts_facts_and_relations_in_one_call(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(
        {
            "facts": [
                {"text": "Alice works at Acme as an engineer", "sources": [0]},
                {
                    "text": "Alice loves green tea",
                    "kind": "preference",
                    "preference": "explicit",
                    "sources": [0],
                },
            ],
            "relations": [
                {
                    "source": "Alice",
                    "source_type": "person",
                    "relation": "works at",
                    "target": "Acme",
                    "fact": 0,
                },
                {"source": "alice ", "relation": "likes", "target": "green tea", "fact": 1},
            ],
        }
    )
    out = await fine.add(
        [{"role": "user", "content": "I'm Alice, an engineer at Acme. I love green tea.", "name": "Alice"}],
        **ALICE,
        run_id="s1",
    )
    assert out.mode == "fine"
    assert out.llm is not None and out.llm.calls == 1 and out.llm.fallback is None
    assert out.llm.prompt_tokens > 0
    [episode] = of_kind(out, "episode")
    assert episode.event is Event.ADD
    fact, pref = of_kind(out, "fact") + of_kind(out, "preference")
    assert fact.event is Event.ADD and pref.event is Event.ADD
    assert fact.sources == (episode.id,)
    # Facts belong to the user, not to the session; the session is kept as provenance.
    stored = await fine.get(fact.id, user_id="alice")
    assert stored.kind is MemoryKind.FACT and stored.run_id is None
    assert stored.metadata["source_run_id"] == "s1"
    assert (await fine.get(pref.id)).metadata["preference"] == "explicit"
    # "Alice" and "alice " are one entity; both relations are reported like mem0's.
    assert out.relations is not None
    added = {(r["source"], r["relationship"], r["target"]) for r in out.relations["added_entities"]}
    assert added == {("Alice", "works_at", "Acme"), ("Alice", "likes", "green tea")}
    assert len(await fine.storage.graph.entities(fine_scope("alice"))) == 3
    # The extracted fact is found by search.
    hits = await fine.search("where does she work?", **ALICE)
    assert hits[0].memory.id in {fact.id, episode.id}
    assert fact.id in {h.memory.id for h in hits}
    # The model saw the new message under a handle, with the speaker's name.
    prompt = fake_llm.requests[0].json["messages"][-1]["content"]
    assert "[0] user (Alice)" in prompt


def fine_scope(user: str) -> Any:
    from memoryd.models import Scope

    return Scope(user_id=user)


async def test_update_keeps_old_text_in_history(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(facts("Alice works at Acme"))
    first = await fine.add("I work at Acme.", **ALICE)
    [old] = of_kind(first, "fact")
    fake_llm.reply_json(facts("Alice is a senior engineer at Acme"))
    fake_llm.reply_json(
        decisions(
            {"fact": 0, "event": "UPDATE", "target": 0, "text": "Alice works at Acme as a senior engineer"}
        )
    )
    out = await fine.add("I'm a senior engineer there now.", **ALICE)
    assert out.llm is not None and out.llm.calls == 2  # extraction + one batched reconciliation
    [upd] = of_kind(out, "fact")
    assert upd.event is Event.UPDATE and upd.id == old.id
    assert upd.previous == "Alice works at Acme"
    assert (await fine.get(old.id)).text == "Alice works at Acme as a senior engineer"
    events = [(h.event, h.old_text, h.new_text) for h in await fine.history(old.id)]
    assert events[-1] == (Event.UPDATE, "Alice works at Acme", "Alice works at Acme as a senior engineer")
    # The reconciliation prompt used integer handles, never the real id.
    prompt = fake_llm.requests[-1].json["messages"][-1]["content"]
    assert "[0] Alice works at Acme" in prompt and old.id not in prompt
    # The merged text was re-embedded: a search on its new words finds it.
    hits = await fine.search("senior engineer", **ALICE, filters={"kind": "fact"})
    assert hits[0].memory.id == old.id


@pytest.mark.parametrize(
    "merged", ["Alice works at Acme \ud83c", "Alice works at Acme " + "x" * 300_000, "   "], ids=["lone surrogate", "300k chars", "blank"]
)
async def test_an_unusable_merged_text_supersedes_instead(fine: AsyncMemory, fake_llm: Script, merged: str) -> None:
    """A merged text no extracted fact could have (half an emoji, a runaway answer) is not stored:
    the UPDATE becomes a SUPERSEDE, and the message and the new fact are kept."""
    fake_llm.reply_json(facts("Alice works at Acme"))
    [old] = of_kind(await fine.add("I work at Acme.", **ALICE), "fact")
    fake_llm.reply_json(facts("Alice is a senior engineer at Acme"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "UPDATE", "target": 0, "text": merged}))
    out = await fine.add("I'm a senior engineer there now.", **ALICE)
    assert out.llm is not None and out.llm.fallback is None
    [episode] = of_kind(out, "episode")
    assert (await fine.get(episode.id)).text == "I'm a senior engineer there now."
    [new] = of_kind(out, "fact")
    assert new.event is Event.SUPERSEDE and new.id != old.id
    assert (await fine.get(new.id)).text == "Alice is a senior engineer at Acme"
    assert (await fine.get(old.id)).text == "Alice works at Acme"  # closed, kept


async def test_a_fact_of_the_same_instant_supersedes_and_both_stay_findable(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    fake_llm.reply_json(facts("Alice lives in Berlin"))
    [berlin] = of_kind(await fine.add("I live in Berlin.", **ALICE, timestamp="2024-01-01T00:00:00Z"), "fact")
    fake_llm.reply_json(facts("Alice lives in Paris"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "SUPERSEDE", "target": 0}))
    [paris] = of_kind(await fine.add("Actually, Paris.", **ALICE, timestamp="2024-01-01T00:00:00Z"), "fact")
    assert paris.event is Event.SUPERSEDE
    old, new = await fine.get(berlin.id), await fine.get(paris.id)
    assert old.valid_to is not None and old.valid_from < old.valid_to == new.valid_from
    at = await fine.get_all(**ALICE, filters={"kind": "fact"}, as_of="2024-01-01T00:00:00Z")
    assert [m.text for m in at.items] == ["Alice lives in Berlin"]
    now = await fine.get_all(**ALICE, filters={"kind": "fact"})
    assert [m.text for m in now.items] == ["Alice lives in Paris"]


async def test_a_fact_older_than_the_one_it_supersedes_is_kept_as_history(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """History added late ("I lived in Paris" dated 2022, after Berlin dated 2024): Berlin stays
    current, Paris holds until Berlin began; an older DELETE changes nothing."""
    fake_llm.reply_json(facts("Alice lives in Berlin"))
    [berlin] = of_kind(await fine.add("I live in Berlin.", **ALICE, timestamp="2024-01-01T00:00:00Z"), "fact")
    fake_llm.reply_json(facts("Alice lives in Paris"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "SUPERSEDE", "target": 0}))
    out = await fine.add("I live in Paris.", **ALICE, timestamp="2022-01-01T00:00:00Z")
    [paris] = of_kind(out, "fact")
    assert paris.event is Event.ADD and paris.id != berlin.id and berlin.id in (paris.reason or "")
    assert (await fine.get(berlin.id)).valid_to is None
    assert (await fine.get(paris.id)).valid_to == (await fine.get(berlin.id)).valid_from
    for when, city in (("2023-06-01T00:00:00Z", "Paris"), ("2024-06-01T00:00:00Z", "Berlin"), (None, "Berlin")):
        page = await fine.get_all(**ALICE, filters={"kind": "fact"}, as_of=when)
        assert [m.text for m in page.items] == [f"Alice lives in {city}"], when
    fake_llm.reply_json(facts("Alice no longer lives in Berlin"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "DELETE", "target": 0}))
    out = await fine.add("I don't live in Berlin anymore.", **ALICE, timestamp="2023-01-01T00:00:00Z")
    [dropped] = of_kind(out, "fact")
    assert dropped.event is Event.NOOP and dropped.id == berlin.id
    assert (await fine.get(berlin.id)).valid_to is None


async def test_profile_memories_of_fast_mode_are_reconciled(fine: AsyncMemory, fake_llm: Script) -> None:
    out = await fine.add("I live in Porto.", **ALICE, mode="fast")
    [porto] = of_kind(out, "profile")
    assert (await fine.get(porto.id)).text == "The user lives in Porto."
    fake_llm.reply_json(facts("Alice lives in Lisbon"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "SUPERSEDE", "target": 0}))
    [lisbon] = of_kind(await fine.add("I moved from Porto to Lisbon.", **ALICE), "fact")
    assert lisbon.event is Event.SUPERSEDE and lisbon.previous == "The user lives in Porto."
    assert (await fine.get(porto.id)).valid_to is not None


async def test_a_write_naming_no_user_never_reconciles_with_a_users_memories(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    fake_llm.reply_json(facts("Ana is allergic to peanuts"))
    [ana] = of_kind(await fine.add("I'm allergic to peanuts.", user_id="ana", agent_id="bot"), "fact")
    fake_llm.reply_json(facts("Peanut allergies are no longer a concern"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "DELETE", "target": 0}))  # not asked for
    out = await fine.add("Note to self: the peanut policy changed.", agent_id="bot")
    [note] = of_kind(out, "fact")
    assert note.event is Event.ADD and out.llm is not None and out.llm.calls == 1  # nothing to reconcile
    assert (await fine.get(ana.id)).valid_to is None
    assert "Ana is allergic" not in json.dumps([r.json for r in fake_llm.requests])


async def test_concurrent_updates_of_one_memory_build_on_each_other(fine: AsyncMemory, fake_llm: Script) -> None:
    """Two adds of one user at once: the second reconciles with what the first committed, so
    neither merge is lost and the history chains."""
    fake_llm.reply_json(facts("Ana has a dog"))
    [dog] = of_kind(await fine.add("I have a dog.", user_id="ana"), "fact")
    fake_llm.reply_json(facts("Ana's dog is named Biscuit"), delay=0.2)
    fake_llm.reply_json(decisions({"fact": 0, "event": "UPDATE", "target": 0, "text": "Ana has a dog named Biscuit"}))
    fake_llm.reply_json(facts("Ana's dog is a golden retriever"))
    fake_llm.reply_json(
        decisions({"fact": 0, "event": "UPDATE", "target": 0, "text": "Ana has a golden retriever named Biscuit"})
    )
    first, second = await asyncio.gather(
        fine.add("My dog is called Biscuit.", user_id="ana"), fine.add("He is a golden retriever.", user_id="ana")
    )
    assert [r.event for r in of_kind(first, "fact")] == [Event.UPDATE]
    assert [(r.event, r.previous) for r in of_kind(second, "fact")] == [(Event.UPDATE, "Ana has a dog named Biscuit")]
    assert (await fine.get(dog.id)).text == "Ana has a golden retriever named Biscuit"
    history = [(h.old_text, h.new_text) for h in await fine.history(dog.id) if h.event is Event.UPDATE]
    assert history == [
        ("Ana has a dog", "Ana has a dog named Biscuit"),
        ("Ana has a dog named Biscuit", "Ana has a golden retriever named Biscuit"),
    ]
    prompt = fake_llm.requests[-1].json["messages"][-1]["content"]
    assert "[0] Ana has a dog named Biscuit" in prompt  # the second saw the first's merge


async def test_supersede_keeps_the_old_fact_for_as_of(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(
        {
            "facts": [{"text": "Alice lives in Paris", "sources": [0]}],
            "relations": [{"source": "Alice", "relation": "lives_in", "target": "Paris", "fact": 0}],
        }
    )
    first = await fine.add("I live in Paris.", **ALICE, timestamp="2024-01-10T09:00:00Z")
    [paris] = of_kind(first, "fact")
    fake_llm.reply_json(
        {
            "facts": [{"text": "Alice lives in Berlin", "sources": [0]}],
            "relations": [{"source": "Alice", "relation": "lives_in", "target": "Berlin", "fact": 0}],
        }
    )
    fake_llm.reply_json(decisions({"fact": 0, "event": "SUPERSEDE", "target": 0}))
    out = await fine.add("I moved to Berlin last week.", **ALICE, timestamp="2024-06-01T09:00:00Z")
    [berlin] = of_kind(out, "fact")
    assert (
        berlin.event is Event.SUPERSEDE
        and berlin.id != paris.id
        and berlin.previous == "Alice lives in Paris"
    )
    old = await fine.get(paris.id)
    assert old.valid_to == datetime(2024, 6, 1, 9, tzinfo=UTC)  # ends when the new fact became true
    facts_now = await fine.search("where does Alice live", **ALICE, filters={"kind": "fact"})
    assert [h.memory.id for h in facts_now] == [berlin.id]
    then = await fine.search("where does Alice live", **ALICE, filters={"kind": "fact"}, as_of="2024-03-01")
    assert [h.memory.id for h in then] == [paris.id]
    # The graph agrees: the old relation is closed, not deleted.
    assert out.relations is not None
    assert {r["target"] for r in out.relations["deleted_entities"]} == {"Paris"}
    current = await fine.storage.graph.neighbours(fine_scope("alice"), ["Alice"])
    assert {r.target.name for r in current} == {"Berlin"}
    past = await fine.storage.graph.neighbours(
        fine_scope("alice"), ["Alice"], as_of=datetime(2024, 3, 1, tzinfo=UTC)
    )
    assert {r.target.name for r in past} == {"Paris"}
    assert [h.event for h in await fine.history(paris.id)][-1] is Event.SUPERSEDE


async def test_noop_keeps_what_is_known(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(facts("Alice has a dog named Rex"))
    [dog] = of_kind(await fine.add("I have a dog, Rex.", **ALICE), "fact")
    fake_llm.reply_json(facts("Alice owns a dog called Rex"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "NOOP", "target": 0}))
    out = await fine.add("Rex is great.", **ALICE)
    [noop] = of_kind(out, "fact")
    assert noop.event is Event.NOOP and noop.id == dog.id
    assert (await fine.get_all(**ALICE, filters={"kind": "fact"})).total == 1
    assert [h.event for h in await fine.history(dog.id)] == [Event.ADD, Event.NOOP]


async def test_delete_closes_validity_and_never_destroys(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(facts("Alice plays tennis"))
    [tennis] = of_kind(await fine.add("I play tennis.", **ALICE), "fact")
    fake_llm.reply_json(facts("Alice no longer plays tennis"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "DELETE", "target": 0}))
    out = await fine.add("I quit tennis.", **ALICE)
    [gone] = of_kind(out, "fact")
    assert gone.event is Event.DELETE and gone.id == tennis.id and gone.previous == "Alice plays tennis"
    # Closed, not destroyed: out of search and listings, still there with include_expired.
    hits = await fine.search("tennis", **ALICE, filters={"kind": "fact"})
    assert tennis.id not in {h.memory.id for h in hits}
    assert (await fine.get_all(**ALICE, filters={"kind": "fact"})).total == 0
    listed = await fine.get_all(**ALICE, filters={"kind": "fact"}, include_expired=True)
    assert [m.id for m in listed.items] == [tennis.id]
    assert (await fine.get(tennis.id)).valid_to is not None
    assert [h.event for h in await fine.history(tennis.id)] == [Event.ADD, Event.DELETE]


async def test_verbatim_known_fact_needs_no_reconciliation_call(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(facts("Alice likes jazz"))
    await fine.add("I like jazz.", **ALICE)
    fake_llm.reply_json(facts("alice likes  jazz"))
    out = await fine.add("Jazz is my thing.", **ALICE)
    assert out.llm is not None and out.llm.calls == 1
    assert of_kind(out, "fact")[0].event is Event.NOOP


async def test_repairs_broken_json(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_text(
        'Sure! Here you go:\n```json\n{"facts": [{"text": "Alice is vegetarian", "sources": [0],},], '
        '"relations": []}\n```'
    )
    out = await fine.add("I'm vegetarian.", **ALICE)
    assert out.llm is not None and out.llm.calls == 1 and out.llm.fallback is None
    assert [r.text for r in of_kind(out, "fact")] == ["Alice is vegetarian"]


async def test_prose_twice_falls_back_to_episodes(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_text("The user seems to like cats.", times=4)
    out = await fine.add(["I adore cats.", "Especially black ones."], **ALICE)
    assert out.mode == "fine"
    assert [r.event for r in of_kind(out, "episode")] == [Event.ADD, Event.ADD]  # both messages kept
    assert [r.text for r in of_kind(out, "preference")] == ["The user loves cats."]  # as fast mode reads it
    assert out.llm is not None and out.llm.fallback is not None and "fast mode" in out.llm.fallback
    assert out.llm.calls >= 2  # asked, then re-asked once with the validation error
    assert (await fine.get_all(**ALICE)).total == 3
    hits = await fine.search("cats", **ALICE)
    assert hits and hits[0].memory.kind is MemoryKind.EPISODE


async def test_dead_llm_loses_nothing(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.fail(503, times=10)
    out = await fine.add("Remember that my passport expires in May.", **ALICE)
    assert [r.event for r in out] == [Event.ADD]
    assert out.llm is not None and out.llm.fallback is not None and "unavailable" in out.llm.fallback
    assert out.llm.calls >= 1 and len(fake_llm.requests) >= out.llm.calls  # the calls made count, answered or not
    assert (await fine.get(out[0].id)).text == "Remember that my passport expires in May."


async def test_empty_answer_and_bad_handles(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json({"facts": [], "relations": []})
    out = await fine.add("hello!", **ALICE)
    assert [r.kind for r in out] == ["episode"] and out.llm is not None and out.llm.fallback is None
    fake_llm.reply_json(facts("Alice speaks French"))
    await fine.add("Je parle français.", **ALICE)
    fake_llm.reply_json(facts("Alice speaks French fluently"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "UPDATE", "target": 99, "text": "x"}))
    out = await fine.add("Fluently, in fact.", **ALICE)
    [fact] = of_kind(out, "fact")
    assert fact.event is Event.ADD and fact.reason is not None and "no valid existing memory" in fact.reason


async def test_reconciliation_failure_adds_every_fact(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(facts("Alice drinks coffee"))
    await fine.add("Coffee every morning.", **ALICE)
    fake_llm.reply_json(facts("Alice drinks two coffees a day"))
    fake_llm.reply_text("no idea", times=4)
    out = await fine.add("Two a day actually.", **ALICE)
    [fact] = of_kind(out, "fact")
    assert fact.event is Event.ADD and fact.reason is not None and "added as new" in fact.reason
    # said for the add as a whole too (only the result said it), and the turn stays due
    assert out.llm is not None and out.llm.fallback is None and "added as new" in str(out.llm.incomplete)
    [episode] = of_kind(out, "episode")
    assert fine.storage.segments is not None
    [turn] = await fine.storage.segments.turns(memory_ids=[episode.id])
    assert turn.level < LEVEL_LLM


async def test_duplicate_message_skips_the_llm(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(facts("Alice is allergic to nuts"))
    await fine.add("I'm allergic to nuts.", **ALICE)
    calls = len(fake_llm.requests)
    out = await fine.add("I'm allergic to nuts.", **ALICE)
    assert [r.event for r in out] == [Event.NOOP]
    assert len(fake_llm.requests) == calls and out.llm is not None and out.llm.calls == 0


async def test_context_window_shows_earlier_turns(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.default_text(json.dumps({"facts": [], "relations": []}))
    await fine.add([{"role": "user", "content": "My sister is called Emma."}], **ALICE, run_id="s1")
    await fine.add([{"role": "user", "content": "She lives in Rome."}], **ALICE, run_id="s1")
    prompt = fake_llm.requests[-1].json["messages"][-1]["content"]
    assert "EARLIER messages" in prompt and "My sister is called Emma." in prompt
    assert prompt.index("Emma") < prompt.index("[0] user: She lives in Rome.")


async def test_fast_mode_still_available(fine: AsyncMemory, fake_llm: Script) -> None:
    out = await fine.add("just store this", **ALICE, mode="fast")
    assert out.mode == "fast" and fake_llm.requests == []


async def test_fine_mode_without_llm_is_refused(amem: AsyncMemory) -> None:
    with pytest.raises(NotSupportedError, match="MEMORYD_LLM_MODEL"):
        await amem.add("hi", user_id="u", mode="fine")


async def test_env_variables_alone_turn_on_fine_mode(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memoryd import load_settings

    env = {
        "MEMORYD_LLM_BASE_URL": fake_llm.base_url,
        "MEMORYD_LLM_API_KEY": "sk-env",
        "MEMORYD_LLM_MODEL": "small",
        "MEMORYD_STORAGE__PATH": str(tmp_path / "env.db"),
    }
    fake_llm.reply_json(facts("Bob likes chess"))
    async with AsyncMemory(load_settings(env=env), embedder=embedder) as mem:
        out = await mem.add("I like chess.", user_id="bob")
        health = await mem.health()
    assert out.mode == "fine" and [r.kind for r in out] == ["episode", "fact"]
    assert fake_llm.requests[0].headers["authorization"] == "Bearer sk-env"
    assert fake_llm.requests[0].json["model"] == "small"
    assert health["checks"]["llm"]["mode"] == "fine"
    assert "sk-env" not in json.dumps(health)


def test_settings_helper_keeps_key_secret(tmp_path: Path, fake_llm: Script) -> None:
    settings = llm_settings(tmp_path, fake_llm.base_url)
    assert "sk-test-secret" not in json.dumps(settings.redacted())


async def test_a_reply_of_the_wrong_shape_falls_over_to_the_next_tier(
    tmp_path: Path, fake_llm: Script, fake_llm_factory: Callable[[], Script], embedder: USEEmbedder
) -> None:
    good = fake_llm_factory()
    fake_llm.default(Reply(body={"choices": [{"message": "oops"}]}))
    good.reply_json(facts("Ana moved to Lisbon"))
    tiers = [
        [{"provider": "custom", "model": "a", "base_url": fake_llm.base_url}],
        [{"provider": "custom", "model": "b", "base_url": good.base_url}],
    ]
    settings = llm_settings(tmp_path, fake_llm.base_url, tiers=tiers, max_attempts=3)
    async with AsyncMemory(settings, embedder=embedder) as mem:
        out = await mem.add("I moved to Lisbon last spring.", user_id="ana")
        assert out.llm is not None and out.llm.fallback is None
        assert [(r.kind, r.event) for r in out] == [("episode", Event.ADD), ("fact", Event.ADD)]
        assert (await mem.get_all(user_id="ana")).total == 2
    assert len(fake_llm.requests) == 1 and len(good.requests) == 1


async def test_a_reply_of_the_wrong_shape_from_the_only_target_keeps_the_messages(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    fake_llm.default(Reply(body={"choices": [{"message": ["{}"]}]}))
    out = await fine.add("Remember that my passport expires in May.", **ALICE)
    assert [(r.kind, r.event) for r in out] == [("episode", Event.ADD)]
    assert out.llm is not None and out.llm.fallback is not None
    assert "fast mode" in out.llm.fallback and "a malformed reply" in out.llm.fallback
    assert (await fine.get(out[0].id)).text == "Remember that my passport expires in May."


async def test_an_unexpected_error_in_extraction_keeps_the_messages(
    fine: AsyncMemory, fake_llm: Script, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a defect on an odd reply")

    monkeypatch.setattr(fine_module, "structured", broken)
    out = await fine.add("Remember that my passport expires in May.", **ALICE)
    assert [(r.kind, r.event) for r in out] == [("episode", Event.ADD)]
    assert out.llm is not None and out.llm.fallback is not None
    assert "RuntimeError: a defect on an odd reply" in out.llm.fallback and "fast mode" in out.llm.fallback
    assert (await fine.get_all(**ALICE)).total == 1


async def test_a_refusal_with_braces_falls_back_to_episodes(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.default_text("I'm sorry, but I can't share personal details about {user}.")
    out = await fine.add("I visited Lisbon last spring.", **ALICE)
    assert [(r.kind, r.event) for r in out] == [("episode", Event.ADD)]
    assert out.llm is not None and out.llm.calls == 2  # asked, then re-asked once
    assert out.llm.fallback is not None and "no JSON object or array" in out.llm.fallback


async def test_a_write_naming_no_user_sees_no_users_words_in_its_context(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    fake_llm.default_text(json.dumps({"facts": [], "relations": []}))
    await fine.add("My PIN is 4321.", user_id="ana", agent_id="bot", run_id="r1")
    await fine.add("My diagnosis is diabetes.", user_id="bob", agent_id="bot", run_id="r1")
    await fine.add([{"role": "assistant", "content": "The bot restarted."}], agent_id="bot", run_id="r1")
    await fine.add("Session note: all good.", agent_id="bot", run_id="r1")
    prompt = fake_llm.requests[-1].json["messages"][-1]["content"]
    assert "The bot restarted." in prompt  # the session's own words (of no user) are context
    assert "4321" not in prompt and "diabetes" not in prompt  # its users' are not


async def test_fine_mode_builds_the_profile(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(
        {
            "facts": [
                {"text": "The user's name is Ana Lima", "kind": "profile", "attribute": "name", "sources": [0]},
                {"text": "Ana works at Acme", "kind": "profile", "attribute": "Work ", "sources": [0]},
                {"text": "Ana loves hiking", "kind": "preference", "preference": "explicit", "sources": [0]},
            ]
        }
    )
    out = await fine.add("My name is Ana Lima, I work at Acme and I love hiking.", **ALICE)
    assert sorted((r.kind, r.text) for r in out if r.kind != "episode") == [
        ("preference", "Ana loves hiking"),
        ("profile", "Ana works at Acme"),
        ("profile", "The user's name is Ana Lima"),
    ]
    profile = (await fine.get_all(**ALICE, filters={"kind": "profile"})).items
    assert sorted(m.metadata["attribute"] for m in profile) == ["name", "work"]
    prompt = fake_llm.requests[0].json["messages"][0]["content"]
    assert '"profile"' in prompt and "attribute" in prompt  # the model is asked for them
    block = await fine.context("what should we do this weekend?", **ALICE)
    assert "## Profile" in block.text and "Ana Lima" in block.text.split("## Profile", 1)[1]
