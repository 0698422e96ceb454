"""Tiers end to end on a real SQLite file with the real embedder: overflow, segments, heat,
eviction, promotion (rules and the LLM), the tree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.hierarchy.models import LEVEL_LLM, LEVEL_RULES
from memoryd.models import MemoryKind, Scope
from tests.fakes.llm_server import Script
from tests.hierarchy.conftest import TOPICS, Clock, chat, fine_tier_settings, tier_settings

ANA = Scope("ana")
Make = Callable[..., Any]


def _segments_of(tree: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for topic in tree["topics"] for s in topic["segments"]]


def _where(tree: dict[str, Any]) -> dict[str, str]:
    """Episode id -> the segment it is in, or "short"."""
    out = {e["id"]: "short" for session in tree["short_term"] for e in session["episodes"]}
    for s in _segments_of(tree):
        out.update({e["id"]: s["id"] for e in s["episodes"]})
    return out


async def test_overflow_moves_the_oldest_turns_to_segments_and_drops_nothing(make_memory: Make) -> None:
    async with make_memory(short_term_turns=4) as mem:
        ids = await chat(mem, TOPICS["hiking"] + TOPICS["cat"] + TOPICS["work"][:2], run_id="s1")
        tree = await mem.tree("ana", episodes=50)
        where = _where(tree)
        assert [where[i] for i in ids[-4:]] == ["short"] * 4  # the newest four
        hiking, cat = where[ids[0]], where[ids[4]]
        assert {where[i] for i in ids[:4]} == {hiking} and {where[i] for i in ids[4:6]} == {cat} != {hiking}
        counts = tree["counts"]
        assert (counts["short_term_turns"], counts["mid_term_turns"], counts["segments"]) == (4, 6, 2)
        assert counts["episodes"] == 10 and counts["untracked"] == 0
        by_id = {s["id"]: s for s in _segments_of(tree)}
        assert (
            by_id[hiking]["turns"] == 4
            and by_id[hiking]["tier"] == "mid"
            and by_id[hiking]["sessions"] == ["s1"]
        )
        assert "hiking" in by_id[hiking]["keywords"] and "miso" in by_id[cat]["label"]
        # a fact distilled from a turn hangs under that turn's segment
        assert [f["text"] for f in by_id[hiking]["facts"]] == ["The user loves hiking in the mountains."]
        # nothing dropped: every turn is still a stored, searchable episode
        episodes = await mem.get_all(user_id="ana", filters={"kind": "episode"})
        assert episodes.total == 10
        hits = await mem.search("Which trails does Ana like in Sintra?", user_id="ana", limit=3)
        assert ids[2] in [h.memory.id for h in hits]
        [row] = await mem.users()
        assert row["tiers"] == {
            "short_term_turns": 4, "mid_term_turns": 6, "evicted_turns": 0, "segments": 2,
            "evicted_segments": 0, "promoted_segments": 0,
        }  # fmt: skip


async def test_a_big_write_and_stale_sessions_leave_short_term(make_memory: Make) -> None:
    async with make_memory(short_term_turns=3, short_term_sessions=2) as mem:
        big = [{"role": r, "content": t} for r, t in TOPICS["cooking"]]
        out = await mem.add(big, user_id="ana", run_id="s1")  # 4 turns at once: the oldest goes on
        tree = await mem.tree("ana")
        assert tree["counts"]["short_term_turns"] == 3 and tree["counts"]["mid_term_turns"] == 1
        assert _where(tree)[str(out[0].id)] != "short"
        await chat(mem, TOPICS["cat"][:2], run_id="s2")
        await chat(mem, TOPICS["work"][:1], run_id="s3")  # a third session: s1, the stalest, moves on
        tree = await mem.tree("ana")
        assert {s["run_id"]: s["turns"] for s in tree["short_term"]} == {"s2": 2, "s3": 1}
        assert tree["counts"]["mid_term_turns"] == 4


async def test_heat_decays_with_simulated_time(make_memory: Make, clock: Clock) -> None:
    async with make_memory(short_term_turns=1, heat_half_life_hours=24, promote_heat=100) as mem:
        await chat(mem, TOPICS["hiking"], run_id="s1")
        [segment] = _segments_of(await mem.tree("ana"))
        turns = segment["turns"]
        assert turns == 3 and segment["heat"] == pytest.approx(0.5 * turns + 1.0)
        clock.advance(hours=24)
        [segment] = _segments_of(await mem.tree("ana"))
        assert segment["heat"] == pytest.approx(0.5 * turns + 0.5)
        clock.advance(hours=48)
        [segment] = _segments_of(await mem.tree("ana"))
        assert segment["heat"] == pytest.approx(0.5 * turns + 0.125)
        # a turn said now joins the segment (the next turn pushes it out of short-term): fresh again
        await chat(
            mem, [("user", "Hiking in Sintra again, on the forest trails."), ("user", "ok")], run_id="s1"
        )
        [segment] = [s for s in _segments_of(await mem.tree("ana")) if s["turns"] == 5]
        assert segment["heat"] == pytest.approx(0.5 * 5 + 1.0)


async def test_retrieval_heat_is_counted_in_memory_and_written_later(make_memory: Make, clock: Clock) -> None:
    async with make_memory(short_term_turns=1, promote_heat=100) as mem:
        ids = await chat(mem, TOPICS["hiking"] + TOPICS["cat"], run_id="s1")
        store = mem.storage.segments
        assert store is not None
        clock.advance(hours=5)
        for _ in range(3):
            hits = await mem.search("favourite hiking trails in Sintra", user_id="ana", limit=2)
            assert ids[2] in [h.memory.id for h in hits]
        # the searches wrote nothing
        assert all(s.retrievals == 0 for s in await store.segments(ANA))
        clock.advance(hours=1)
        await chat(mem, [("user", "Do you know a good vet for cats?")], run_id="s1")  # the next write
        heated = {s.label: s for s in await store.segments(ANA)}
        hiking = next(s for s in heated.values() if "hiking" in s.label)
        assert hiking.retrievals >= 3 and hiking.touched_at == clock().timestamp() - 3600  # when searched
        # context() counts what it included too, flushed by the tree read
        before = hiking.retrievals
        ctx = await mem.context("Where do I like to hike?", user_id="ana")
        assert any(i.id in ids[:4] for i in ctx.items)
        tree = await mem.tree("ana")
        [after] = [s for s in _segments_of(tree) if s["id"] == hiking.id]
        assert after["retrievals"] > before


async def test_heat_is_flushed_in_the_background_once_enough_is_pending(make_memory: Make) -> None:
    async with make_memory(short_term_turns=1, heat_flush_every=2, promote_heat=100) as mem:
        await chat(mem, TOPICS["cat"], run_id="s1")
        await mem.search("a cat called Miso", user_id="ana", limit=3)
        await mem.tiers.drain()
        assert mem.storage.segments is not None
        assert sum(s.retrievals for s in await mem.storage.segments.segments(ANA)) > 0


async def test_heat_waits_in_memory_no_longer_than_half_a_minute_while_searches_go_on(
    make_memory: Make, clock: Clock
) -> None:
    # With the async pipeline the server never writes: its counts waited for 1,000 ids (or a
    # graceful stop), so the workers planned promotions without them and a kill lost them.
    async with make_memory(short_term_turns=1, promote_heat=100) as mem:
        await chat(mem, TOPICS["cat"], run_id="s1")
        assert mem.storage.segments is not None
        await mem.search("a cat called Miso", user_id="ana", limit=3)
        clock.advance(seconds=10)
        await mem.search("a cat called Miso", user_id="ana", limit=3)
        await mem.tiers.drain()
        assert sum(s.retrievals for s in await mem.storage.segments.segments(ANA)) == 0  # not yet
        clock.advance(seconds=25)
        await mem.search("a cat called Miso", user_id="ana", limit=3)
        await mem.tiers.drain()
        assert sum(s.retrievals for s in await mem.storage.segments.segments(ANA)) >= 3


async def test_cold_segments_are_evicted_and_their_episodes_stay_searchable(
    make_memory: Make, clock: Clock
) -> None:
    async with make_memory(short_term_turns=1, mid_term_segments=1, promote_heat=100) as mem:
        hiking = await chat(mem, TOPICS["hiking"], run_id="s1")
        for topic in ("cat", "work", "cooking"):  # a topic every twelve hours: the older, the colder
            clock.advance(hours=12)
            await chat(mem, TOPICS[topic], run_id="s1")
        tree = await mem.tree("ana", episodes=10)
        tiers = {s["id"]: s["tier"] for s in _segments_of(tree)}
        assert sorted(tiers.values()).count("mid") == 1 and list(tiers.values()).count("evicted") >= 3
        counts = tree["counts"]
        assert counts["evicted_turns"] + counts["mid_term_turns"] == 15 and counts["evicted_turns"] >= 8
        evicted_hiking = _where(tree)[hiking[2]]
        assert tiers[evicted_hiking] == "evicted"
        hits = await mem.search("favourite trails in Sintra", user_id="ana", limit=3)
        assert hiking[2] in [h.memory.id for h in hits]
        # an evicted segment takes no new turns: the topic starts again in mid-term
        await chat(mem, [("user", "The trails in Sintra were muddy today."), ("user", "ok")], run_id="s1")
        tree = await mem.tree("ana", episodes=10)
        [mid] = [s for s in _segments_of(tree) if s["tier"] == "mid"]
        assert "sintra" in mid["keywords"]


async def test_a_hot_segment_is_promoted_through_the_rules(tmp_path: Path, make_memory: Make) -> None:
    settings = load_settings(
        env={},
        overrides={
            "storage": {"path": str(tmp_path / "promote.db"), "synchronous": "NORMAL"},
            "context": {"fast_rules": False},  # so promotion is where the rules run
            "tiers": {"short_term_turns": 1, "promote_heat": 2.4, "heat_interaction_weight": 0.5},
        },
    )
    async with make_memory(settings) as mem:
        await chat(mem, TOPICS["hiking"][:3], run_id="s1")  # two turns in a segment: heat 2.0, not hot
        assert (await mem.get_all(user_id="ana", filters={"kind": "preference"})).total == 0
        await chat(mem, TOPICS["hiking"][3:], run_id="s1")  # three: 2.5, hot
        [loves] = (await mem.get_all(user_id="ana", filters={"kind": "preference"})).items
        assert loves.text == "The user loves hiking in the mountains."
        [segment] = [s for s in _segments_of(await mem.tree("ana")) if s["promoted_at"]]
        assert segment["promotions"] == 1 and [f["id"] for f in segment["facts"]] == [loves.id]
        assert (await mem.history(loves.id))[0].actor == "rules:fast"
        store = mem.storage.segments
        assert store is not None
        assert {r.level for r in await store.turns(segment_id=segment["id"])} == {LEVEL_RULES}


async def test_with_rules_on_promotion_is_a_mark(make_memory: Make) -> None:
    async with make_memory(short_term_turns=1, promote_heat=2.4) as mem:
        await chat(mem, TOPICS["hiking"], run_id="s1")
        derived = (await mem.get_all(user_id="ana")).total - 4
        [segment] = [s for s in _segments_of(await mem.tree("ana")) if s["promoted_at"]]
        assert segment["promotions"] == 1
        assert (await mem.get_all(user_id="ana")).total - 4 == derived == 1  # nothing new


async def test_a_hot_segment_of_fast_turns_goes_to_the_llm(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, clock: Clock
) -> None:
    settings = fine_tier_settings(tmp_path, fake_llm.base_url, short_term_turns=1, promote_heat=2.9)
    fake_llm.reply_json({"facts": [{"text": "Ana loves hiking on the trails of Sintra", "sources": [0, 2]}]})
    async with AsyncMemory(settings, embedder=embedder, clock=clock) as mem:
        assert mem.tiers.capability == LEVEL_LLM
        for role, text in [*TOPICS["hiking"], ("user", "ok")]:
            await mem.add({"role": role, "content": text}, user_id="ana", run_id="s1", mode="fast")
        await mem.tiers.drain()  # the LLM is called after the add, in the background
        [request] = fake_llm.requests  # one extraction call, for the promoted segment's turns
        prompt = request.json["messages"][-1]["content"]
        assert "EARLIER" not in prompt  # the turns are new to the LLM, not context
        assert "[0] user: I love hiking in the mountains." in prompt and "[3] assistant: Sintra" in prompt
        [fact] = (await mem.get_all(user_id="ana", filters={"kind": "fact"})).items
        assert fact.text == "Ana loves hiking on the trails of Sintra" and fact.run_id is None
        assert (await mem.history(fact.id))[0].actor == "tiers:promote/fine"
        [segment] = [s for s in _segments_of(await mem.tree("ana")) if s["promoted_at"]]
        assert [f["id"] for f in segment["facts"]] == [fact.id]


async def test_the_tree_groups_segments_into_topics(make_memory: Make) -> None:
    async with make_memory(short_term_turns=1, topic_similarity=0.3) as mem:
        await chat(mem, TOPICS["cat"], run_id="s1")
        await chat(
            mem, [("user", "My cat Miso is sick."), ("user", "What's a good vet for cats?")], run_id="s2"
        )
        await chat(mem, TOPICS["work"] + [("user", "ok")], run_id="s3")
        tree = await mem.tree("ana", episodes=2)
        segments = _segments_of(tree)
        assert len({s["id"] for s in segments}) == len(segments) == tree["counts"]["segments"]
        assert all(len(s["episodes"]) <= 2 for s in segments)
        cat_topic = next(t for t in tree["topics"] if any("miso" in s["keywords"] for s in t["segments"]))
        assert not any("python" in s["keywords"] for s in cat_topic["segments"])
        assert cat_topic["turns"] == sum(s["turns"] for s in cat_topic["segments"])
        assert cat_topic["id"] == f"topic:{cat_topic['segments'][0]['id']}"
        assert tree["topics"] == sorted(tree["topics"], key=lambda t: -max(s["heat"] for s in t["segments"]))
        assert tree["counts"]["topics"] == len(tree["topics"]) >= 2


async def test_tiers_off(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = tier_settings(tmp_path, enabled=False)
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await chat(mem, TOPICS["cat"], run_id="s1")
        await mem.search("cat", user_id="ana")
        tree = await mem.tree("ana")
        assert tree["tiers_enabled"] is False and tree["topics"] == [] and tree["counts"]["untracked"] == 4
        assert (await mem.users())[0]["tiers"]["short_term_turns"] == 0
        assert {m.kind for m in (await mem.get_all(user_id="ana")).items} == {MemoryKind.EPISODE}
