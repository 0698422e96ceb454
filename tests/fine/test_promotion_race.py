"""A background promotion never writes back a memory changed while its LLM worked.

A promotion reads the owner's memories, asks the LLM (seconds) without a lock, then commits. A
write made meanwhile — the user's next add superseding their home, an edit — was undone by it:
its NOOP wrote back its own copy of the old home, current again beside the new one (two homes),
and an edit's text went back to what the promotion had read. The commit is now refused when a
memory it changes was changed since the promotion began (retried on a later write, with fresh
reads), as it already was when a turn it read was edited or deleted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from tests.fakes.llm_server import Script


def _facts(text: str) -> dict[str, Any]:
    return {"facts": [{"text": text, "sources": [0], "kind": "profile", "attribute": "location"}], "relations": []}


@asynccontextmanager
async def _memory(tmp_path: Path, fake_llm: Script, embedder: USEEmbedder) -> AsyncIterator[AsyncMemory]:
    llm = {"provider": "openai", "base_url": fake_llm.base_url, "api_key": "k", "model": "m", "timeout_s": 10}
    settings = load_settings(
        env={},
        overrides={
            "storage": {"path": str(tmp_path / "race.db")},
            "llm": llm,
            "tiers": {"short_term_turns": 1, "promote_heat": 0},  # every segment promoted at once
        },
    )
    mem = await AsyncMemory(settings, embedder=embedder).open()
    try:
        yield mem
    finally:
        await mem.close()


async def _until(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 20
    while not predicate():
        assert time.monotonic() < deadline, "the promotion never asked the LLM"
        await asyncio.sleep(0.02)


async def _while_promoting(
    mem: AsyncMemory, fake_llm: Script, meanwhile: Callable[[], Awaitable[None]]
) -> None:
    """Two fast-mode turns make a hot segment, whose background promotion extracts a home and
    then waits 1.5 s for its reconciliation's answer (a NOOP on the first home): ``meanwhile``
    runs while it waits."""
    fake_llm.reply_json(_facts("Alice lives in Paris, near the Louvre"))
    fake_llm.reply_json({"decisions": [{"fact": 0, "event": "NOOP", "target": 0}]}, delay=1.5)
    asked = len(fake_llm.requests)
    await mem.add("My flat is near the Louvre", user_id="alice", run_id="s1", mode="fast")
    await mem.add("ok thanks", user_id="alice", run_id="s1", mode="fast")
    await _until(lambda: len(fake_llm.requests) >= asked + 2)  # the reconciliation is asked
    await meanwhile()
    await mem.tiers.drain()


async def test_a_home_superseded_during_a_promotion_stays_ended(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder
) -> None:
    async with _memory(tmp_path, fake_llm, embedder) as mem:
        fake_llm.reply_json(_facts("Alice lives in Paris"))
        [paris] = [r for r in await mem.add("I live in Paris", user_id="alice", run_id="s0") if r.kind == "profile"]

        async def move() -> None:
            fake_llm.reply_json(_facts("Alice lives in Berlin"))
            fake_llm.reply_json({"decisions": [{"fact": 0, "event": "SUPERSEDE", "target": 0}]})
            out = await mem.add("I moved to Berlin", user_id="alice", run_id="s2")
            assert [r.event.value for r in out if r.kind == "profile"] == ["SUPERSEDE"]

        await _while_promoting(mem, fake_llm, move)
        assert (await mem.get(paris.id)).valid_to is not None
        homes = (await mem.get_all(user_id="alice", filters={"kind": "profile"})).items
        assert [m.text for m in homes] == ["Alice lives in Berlin"]


async def test_an_edit_during_a_promotion_is_kept(tmp_path: Path, fake_llm: Script, embedder: USEEmbedder) -> None:
    async with _memory(tmp_path, fake_llm, embedder) as mem:
        fake_llm.reply_json(_facts("Alice lives in Paris"))
        [paris] = [r for r in await mem.add("I live in Paris", user_id="alice", run_id="s0") if r.kind == "profile"]

        async def edit() -> None:
            await mem.update(paris.id, "Alice lives in Paris, in the 11th arrondissement")

        await _while_promoting(mem, fake_llm, edit)
        assert (await mem.get(paris.id)).text == "Alice lives in Paris, in the 11th arrondissement"
