"""Fine-mode promotion goes a session at a time: when one session's extraction fails, the sessions
that succeeded keep their level, so the retry sends only the one that failed."""

from __future__ import annotations

from pathlib import Path

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.hierarchy.models import LEVEL_LLM, LEVEL_NONE
from tests.fakes.llm_server import Script
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
        retry = [r.json["messages"][-1]["content"] for r in fake_llm.requests[tried:]]
        assert retry and "I bought new hiking boots." in retry[0]
        assert not any(t in prompt for t in S1 for prompt in retry)  # s1 is not sent twice
        facts = (await mem.get_all(user_id="ana", filters={"kind": "fact"})).items
        assert [f.text for f in facts] == ["Ana loves hiking in Sintra"]
        [segment] = [s for t in (await mem.tree("ana"))["topics"] for s in t["segments"] if s["promoted_at"]]
        assert segment["promotions"] == 1
