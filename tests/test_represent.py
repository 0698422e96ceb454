"""Turns are indexed with their speaker and the turn before them (stored text unchanged)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from memoryd import AsyncMemory, load_settings
from memoryd.config import IndexConfig
from memoryd.embedders.use import USEEmbedder
from memoryd.ingest.represent import Represent
from memoryd.models import MemoryKind, MemoryRecord, Message, Scope

DEAL = [
    {"role": "user", "name": "Tim", "content": "Congrats! How did it feel to seal the deal with the brand?"},
    {"role": "assistant", "name": "John", "content": "Thanks! It felt crazy, all that hard work paid off."},
    {"role": "user", "name": "Tim", "content": "I went hiking in the mountains last weekend."},
    {"role": "assistant", "name": "John", "content": "Nice, I love the outdoors too."},
]


def memory_at(tmp_path: Path, embedder: USEEmbedder, **index: object) -> AsyncMemory:
    overrides: dict[str, object] = {"storage": {"path": str(tmp_path / "r.db")}}
    if index:
        overrides["index"] = index
    settings = load_settings(env={}, overrides=overrides)
    return AsyncMemory(settings, embedder=embedder)


async def test_answer_is_found_through_its_question(tmp_path: Path, embedder: USEEmbedder) -> None:
    async with memory_at(tmp_path, embedder) as mem:
        out = await mem.add(DEAL, user_id="john", run_id="s1")
        answer_id = out[1].id
        hits = await mem.search("John's reaction to sealing the deal", user_id="john", limit=2)
        assert answer_id in [h.memory.id for h in hits]
        assert (await mem.get(answer_id)).text == DEAL[1]["content"]  # stored text untouched


async def test_speaker_name_is_searchable(tmp_path: Path, embedder: USEEmbedder) -> None:
    async with memory_at(tmp_path, embedder, context_weight=0.0) as mem:
        out = await mem.add(DEAL, user_id="john", run_id="s1")
        hits = await mem.search("Tim hiking", user_id="john", limit=1, explain=True)
        assert hits[0].memory.id == out[2].id and hits[0].explain is not None


async def test_context_crosses_add_calls_within_a_session(tmp_path: Path, embedder: USEEmbedder) -> None:
    async with memory_at(tmp_path, embedder) as mem:
        await mem.add(DEAL[0], user_id="john", run_id="s1")
        assert await mem.previous_turn(mem_scope("john", "s1")) == "Tim: " + DEAL[0]["content"]
        assert await mem.previous_turn(mem_scope("john", None)) is None  # no session, no context
        second = await mem.add(DEAL[1], user_id="john", run_id="s1")
        hits = await mem.search("reaction to sealing the deal", user_id="john", limit=2)
        assert second[0].id in [h.memory.id for h in hits]


def mem_scope(user: str, run: str | None) -> Scope:
    return Scope(user_id=user, run_id=run)


async def test_vectors_mix_in_the_previous_turn(embedder: USEEmbedder) -> None:
    async def embed(texts: Sequence[str]) -> np.ndarray:
        return embedder.embed(list(texts))

    msgs = [Message("How are you?", "user", "Ann"), Message("Fine.", "assistant", "Bo")]
    memories = [_record("Fine.", "Bo")]
    on = await Represent(IndexConfig()).start(msgs, "Bo: hello", embed).result([1], memories)
    off = await Represent(IndexConfig(speaker=False, context_weight=0)).start(msgs, "Bo: hello", embed).result(
        [1], memories
    )
    own, question = embedder.embed(["Bo: Fine.", "Ann: How are you?"])
    expected = own + 0.5 * question
    assert np.allclose(on.vectors[0], expected / np.linalg.norm(expected), atol=1e-5)
    assert np.allclose(off.vectors[0], embedder.embed(["Fine."])[0], atol=1e-5)
    assert on.terms == [["bo", "fine", "ann"]]  # the question's words ("how are you" are stopwords)
    assert off.terms == [["fine"]]
    outside = await Represent(IndexConfig()).start(msgs, "Bo: hello", embed, session=False).result([1], memories)
    assert outside.terms == [["bo", "fine"]]  # no session, no context
    assert np.allclose(outside.vectors[0], own, atol=1e-5)


def _record(text: str, actor: str) -> MemoryRecord:
    now = datetime.now(UTC)
    return MemoryRecord(
        "m1", text, MemoryKind.EPISODE, "u", None, "s", {}, "assistant", actor, (), now, now, now, "h", now
    )


async def test_a_deleted_or_edited_turn_leaves_no_trace_in_the_turn_after_it(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    async with memory_at(tmp_path, embedder) as mem:
        turns = [
            {"role": "user", "content": "What is my dog's name again?"},
            {"role": "user", "content": "My bank PIN is 4921 and my password is swordfish"},
            {"role": "assistant", "content": "Okay, noted."},
        ]
        ids = [r.id for r in await mem.add(turns, user_id="ana", run_id="s1")]

        async def parts(query: str, memory_id: str) -> dict[str, object] | None:
            hits = await mem.search(query, user_id="ana", limit=10, explain=True)
            return next((h.explain for h in hits if h.memory.id == memory_id), None)

        before = await parts("swordfish password", ids[2])
        assert before is not None and before["bm25"]  # found through the secret before it
        await mem.delete(ids[1], user_id="ana")
        after = await parts("swordfish password", ids[2])
        assert after is None or after["bm25"] is None  # its words are gone with it
        now = await parts("dog's name", ids[2])
        assert now is not None and now["bm25"]  # and it follows the turn before the deleted one

        more = await mem.add(
            [{"role": "user", "content": "My PIN is 1234, the code word is marmalade"},
             {"role": "assistant", "content": "Understood."}], user_id="ana", run_id="s2",
        )  # fmt: skip
        await mem.update(more[0].id, "I like tea", user_id="ana")
        edited = await parts("marmalade code word", more[1].id)
        assert edited is None or edited["bm25"] is None  # the old words left the next turn too
        assert (await parts("tea", more[1].id) or {}).get("bm25")  # which now follows the new text
        assert (await parts("tea", more[0].id) or {}).get("bm25")
