"""Fine-mode promotion goes a session at a time: when one session's extraction fails, the sessions
that succeeded keep their level, so the retry sends only the one that failed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.hierarchy.models import LEVEL_LLM, LEVEL_NONE
from memoryd.maintenance import check_store
from memoryd.models import Scope
from tests.fakes.llm_server import Reply, Script
from tests.hierarchy.conftest import Clock, fine_tier_settings

S1 = [
    "I love hiking in the mountains.",
    "The trails in Sintra are my favourite.",
    "Last week I hiked the Sintra loop.",
]


async def test_a_retry_sends_only_the_session_that_failed(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, clock: Clock
) -> None:
    settings = fine_tier_settings(
        tmp_path, fake_llm.base_url, short_term_turns=1, short_term_sessions=1, segment_similarity=-1.0,
        promote_heat=2.9,
    )
    async with AsyncMemory(settings, embedder=embedder, clock=clock) as mem:

        async def say(text: str, run_id: str) -> None:
            await mem.add({"role": "user", "content": text}, user_id="ana", run_id=run_id, mode="fast")

        for text in S1:
            await say(text, "s1")
        await say("I bought new hiking boots.", "s2")
        assert fake_llm.requests == []
        fake_llm.reply_json({"facts": [{"text": "Ana loves hiking in Sintra", "sources": [0, 1]}]})  # s1
        fake_llm.fail(500)  # s2
        await say("Hiking boots need breaking in.", "s2")  # four turns in the segment: hot, promoted
        await mem.tiers.drain()  # promotion calls the LLM after the add, in the background
        tried = len(fake_llm.requests)
        assert tried == 2
        store = mem.storage.segments
        assert store is not None
        ids = {m.text: m.id for m in (await mem.get_all(user_id="ana", filters={"kind": "episode"})).items}
        levels = {r.memory_id: r.level for r in await store.turns(memory_ids=list(ids.values()))}
        assert {levels[ids[t]] for t in S1} == {LEVEL_LLM}  # kept, though s2 failed
        assert levels[ids["I bought new hiking boots."]] == LEVEL_NONE

        fake_llm.default_json({"facts": []})
        await say("The boots are comfortable now.", "s2")  # the segment is still hot: tried again
        await mem.tiers.drain()
        retry = [r.json["messages"][-1]["content"] for r in fake_llm.requests[tried:]]
        assert retry and "I bought new hiking boots." in retry[0]
        assert not any(t in prompt for t in S1 for prompt in retry)  # s1 is not sent twice
        facts = (await mem.get_all(user_id="ana", filters={"kind": "fact"})).items
        assert [f.text for f in facts] == ["Ana loves hiking in Sintra"]
        [segment] = [s for t in (await mem.tree("ana"))["topics"] for s in t["segments"] if s["promoted_at"]]
        assert segment["promotions"] == 1


async def test_a_fast_add_does_not_wait_for_the_llm_that_promotion_calls(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, clock: Clock
) -> None:
    """Promotion ran inside the add: with the LLM hanging, every fast add that made a segment hot
    waited out the LLM's timeouts (up to 90 s with the defaults) and reported no LLM use."""
    settings = fine_tier_settings(
        tmp_path, fake_llm.base_url, short_term_turns=1, short_term_sessions=1, segment_similarity=-1.0,
        promote_heat=2.9,
    )
    fake_llm.hang(30, times=5)
    async with AsyncMemory(settings, embedder=embedder, clock=clock) as mem:
        for text in [*S1, "I bought new hiking boots.", "Hiking boots need breaking in."]:
            added = await mem.add({"role": "user", "content": text}, user_id="ana", run_id="s1", mode="fast")
            assert added.llm is None
        assert mem.router is not None

        def failures() -> int:
            assert mem.router is not None
            return sum(t["failures"] for t in mem.router.stats()["targets"].values())

        assert failures() == 0  # the adds are back before the LLM could even time out
        while not fake_llm.requests:  # the promotion has asked the LLM, which hangs
            await asyncio.sleep(0.01)
        # the user's next turn: the promotion holds no lock while the LLM works (it held the
        # owner's write lock, and this add waited out the LLM's timeout)
        await mem.add({"role": "user", "content": "One more turn."}, user_id="ana", run_id="s1", mode="fast")
        assert failures() == 0
        await mem.tiers.drain()  # the promotion, in the background: it timed out
        assert len(fake_llm.requests) == 1 and failures() == 1
        store = mem.storage.segments
        assert store is not None
        assert {r.level for r in await store.turns(owner=Scope(user_id="ana"))} == {LEVEL_NONE}  # due again


async def test_turns_a_fine_add_failed_on_are_not_sent_again_by_its_own_promotion(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, clock: Clock
) -> None:
    """The add's extraction failed, and its promotion sent the same turns straight away (an
    uncounted second call, and for a prompt too big, the same refusal)."""
    settings = fine_tier_settings(
        tmp_path, fake_llm.base_url, short_term_turns=1, short_term_sessions=1, segment_similarity=-1.0,
        promote_heat=2.9,
    )
    fake_llm.default(Reply(status=400, text=None, message="this model's maximum context length is 8192"))
    said = [*S1, "I bought new hiking boots.", "Hiking boots need breaking in.", "The boots are fine now."]
    turns = [{"role": "user", "content": t} for t in said]
    async with AsyncMemory(settings, embedder=embedder, clock=clock) as mem:
        out = await mem.add(turns, user_id="ana", run_id="s1")
        await mem.tiers.drain()
        assert out.llm is not None and out.llm.fallback is not None and out.llm.calls == 1
        assert len(fake_llm.requests) == 1  # the add's own call only
        assert mem.storage.segments is not None
        segments = await mem.storage.segments.segments(Scope(user_id="ana"))
        assert segments and all(s.level < LEVEL_LLM for s in segments)  # left for a later write


async def test_a_turn_deleted_or_edited_while_the_llm_reads_it_leaves_nothing_of_its_old_text(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, clock: Clock
) -> None:
    """The promotion reads its turns, then waits on the LLM holding no lock: what it distilled from
    a turn deleted (or edited) meanwhile came back, citing a memory that no longer exists."""
    settings = fine_tier_settings(
        tmp_path, fake_llm.base_url, short_term_turns=1, short_term_sessions=1, segment_similarity=-1.0,
        promote_heat=2.9,
    )
    said = {"facts": [{"text": "Ana loves hiking in Sintra", "sources": [0]}],
            "relations": [{"source": "Ana", "relation": "hikes_in", "target": "Sintra"}]}  # fmt: skip
    async with AsyncMemory(settings, embedder=embedder, clock=clock) as mem:
        ids = []
        for text in [*S1, "I bought new hiking boots."]:
            added = await mem.add({"role": "user", "content": text}, user_id="ana", run_id="s1", mode="fast")
            ids.append(added[0].id)
        fake_llm.hang(1.0, then=Reply(text=json.dumps(said)))
        hot = {"role": "user", "content": "Hiking boots need breaking in."}
        await mem.add(hot, user_id="ana", run_id="s1", mode="fast")
        while not fake_llm.requests:  # the promotion has asked the LLM
            await asyncio.sleep(0.01)
        await mem.delete(ids[0], user_id="ana")
        await mem.update(ids[1], "I sold my bike.", user_id="ana")
        await mem.tiers.drain()
        assert (await mem.get_all(user_id="ana", filters={"kind": "fact"})).items == []
        assert await mem.storage.graph.relations(Scope("ana"), include_expired=True) == []
        fake_llm.default_json({"facts": []})
        await mem.add({"role": "user", "content": "The boots are fine now."}, user_id="ana", run_id="s1", mode="fast")
        await mem.tiers.drain()  # tried again, with the turns as they are now
        prompts = [r.json["messages"][-1]["content"] for r in fake_llm.requests[1:]]
        assert prompts and "I sold my bike." in prompts[0] and S1[0] not in prompts[0]
        assert "The trails in Sintra" not in prompts[0]  # the edited turn's old text
    assert (await check_store(settings, embedder=embedder)).ok


async def test_a_turn_that_joins_a_segment_while_it_is_promoted_is_sent_later(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, clock: Clock
) -> None:
    """The segment was marked promoted over a turn that joined it while the LLM worked: that turn
    was never sent (later turns went to other segments)."""
    settings = fine_tier_settings(tmp_path, fake_llm.base_url, short_term_turns=1, promote_heat=0.0)
    async with AsyncMemory(settings, embedder=embedder, clock=clock) as mem:

        async def say(text: str) -> None:
            await mem.add({"role": "user", "content": text}, user_id="ana", run_id="s1", mode="fast")
            await mem.tiers.drain()

        await say("Alice works at Google as an engineer.")
        fake_llm.hang(1.0, then=Reply(text=json.dumps({"facts": []})))
        await mem.add(  # the turn before it enters a segment, promoted in the background
            {"role": "user", "content": "Alice works at Google as a software engineer, she said."},
            user_id="ana", run_id="s1", mode="fast",
        )  # fmt: skip
        while not fake_llm.requests:
            await asyncio.sleep(0.01)
        await say("The weather in Lisbon was sunny and warm all week.")  # ... and this one's joins it
        fake_llm.default_json({"facts": []})
        for text in ["My cat Tom loves chasing mice.", "Quantum computing uses qubits.", "I baked bread."]:
            await say(text)
        sent = " ".join(m["content"] for r in fake_llm.requests for m in r.json["messages"])
        assert "as a software engineer, she said" in sent
