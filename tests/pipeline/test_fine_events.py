"""Fine-mode events, against a real Redis, a real store and the scripted LLM on loopback: an
event a worker applied is recorded in the store with what it wrote, like a fast-mode one."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from memoryd import AsyncMemory, Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import EventAppliedError
from memoryd.pipeline import AddPayload, EventStatus, PipelineEvent
from memoryd.pipeline.local_redis import LocalRedis
from memoryd.storage.events import AppliedEvent, applying_events
from tests.fakes.llm_server import Script
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import burst, producer, stored, wait_until

_SAID = "I moved to Porto last spring and I work as a nurse there."
_FACTS = {"facts": [{"text": "Ana lives in Porto", "sources": [0]}, {"text": "Ana works as a nurse", "sources": [0]}]}


def _fine_settings(tmp_path: Path, redis_server: LocalRedis, prefix: str, llm: Script, **pipeline: Any) -> Settings:
    sections = {"llm": {"provider": "openai", "base_url": llm.base_url, "api_key": "k", "model": "m", "timeout_s": 5}}
    return pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, sections, **pipeline)


def _payload() -> AddPayload:
    return AddPayload([{"role": "user", "content": _SAID}], user_id="ana", mode="fine")


async def test_a_fine_event_retried_after_its_status_expired_brings_back_nothing_deleted_since(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, fake_llm: Script, embedder: USEEmbedder
) -> None:
    settings = _fine_settings(tmp_path, redis_server, prefix, fake_llm, result_ttl_s=1)
    fake_llm.reply_json(_FACTS)
    fake_llm.default_json({"decisions": []})
    async with producer(settings, embedder) as (pipeline, memory):
        assert (await pipeline.submit_add(memory, _payload(), event_id="chat-1")).accepted
        assert (await burst(settings, embedder)).processed == 1
        assert (await pipeline.event("chat-1")).status is EventStatus.DONE
        applied = await memory.storage.records.applied(["chat-1"])
        assert applied == {"chat-1": _payload().digest()}  # recorded with the episode and its facts
        kept = stored(settings.storage.path)
        assert kept[("ana", _SAID)] == 1 and kept[("ana", "Ana lives in Porto")] == 1

        for m in (await memory.get_all(user_id="ana")).items:  # ana erases what was said ...
            await memory.delete(m.id, user_id="ana")
        calls = len(fake_llm.requests)
        await wait_until(lambda: _expired(pipeline, "chat-1"), timeout=10, what="the status expiring")
        # ... and then her client retries the add it had sent (its answer was lost): the store
        # knows the event, so it is a NOOP at once, queued for no worker to skip
        retry = await pipeline.submit_add(memory, _payload(), event_id="chat-1")
        assert retry.duplicate and retry.status is EventStatus.DONE
        assert "applied to the store already" in str(retry.reason)
        assert (await burst(settings, embedder)).processed == 0
    assert stored(settings.storage.path) == Counter()  # nothing back: not the turn, not its facts
    assert len(fake_llm.requests) == calls  # and no LLM call paid for it again


async def test_a_fine_add_the_synchronous_path_applied_is_not_applied_again_by_a_worker(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, fake_llm: Script, embedder: USEEmbedder
) -> None:
    # Redis took the event but answered too late: the producer processed it synchronously; the
    # client retries (a duplicate, no LLM call), the user deletes the turn, a worker gets the
    # queued copy later: nothing comes back and the LLM is not paid again.
    dead = _fine_settings(tmp_path, redis_server, prefix, fake_llm)
    dead = dead.model_copy(update={"pipeline": dead.pipeline.model_copy(update={"redis_url": _closed_port()})})
    live = _fine_settings(tmp_path, redis_server, prefix, fake_llm)
    fake_llm.reply_json(_FACTS)
    fake_llm.default_json({"decisions": []})
    async with producer(dead, embedder) as (pipeline, memory):
        done = await pipeline.submit_add(memory, _payload(), event_id="late-1")
        assert (done.pipeline, done.status) == ("bypassed", EventStatus.DONE)
        calls = len(fake_llm.requests)
        again = await pipeline.submit_add(memory, _payload(), event_id="late-1")  # the client's retry
        assert again.duplicate and len(fake_llm.requests) == calls
        for m in (await memory.get_all(user_id="ana")).items:
            await memory.delete(m.id, user_id="ana")
    async with producer(live, embedder) as (pipeline, memory):
        assert (await pipeline.queue.enqueue(PipelineEvent("late-1", _payload()))).created
        assert (await burst(live, embedder)).processed == 1
        record = await pipeline.event("late-1")
    assert record.status is EventStatus.DONE and "applied to the store already" in str(record.result)
    assert stored(live.storage.path) == Counter() and len(fake_llm.requests) == calls


def _closed_port() -> Any:
    from pydantic import SecretStr

    from memoryd.pipeline.local_redis import free_port

    return SecretStr(f"redis://127.0.0.1:{free_port()}/0")


async def test_two_memories_applying_one_fine_event_at_once_store_its_facts_once(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, fake_llm: Script, embedder: USEEmbedder
) -> None:
    # What a worker that stalled past its lease and the one that took the event over do (each
    # applies it as its worker does): both call the LLM before either commits; the same event id
    # in both writes, one is refused whole.
    settings = _fine_settings(tmp_path, redis_server, prefix, fake_llm)
    fake_llm.default_json(_FACTS)
    first, second = AsyncMemory(settings, embedder=embedder), AsyncMemory(settings, embedder=embedder)
    payload = _payload()

    async def apply(memory: AsyncMemory) -> str:
        try:
            with applying_events([AppliedEvent("race-1", payload.digest())]):
                await memory.add(payload.messages, user_id="ana", mode="fine")
        except EventAppliedError:
            return "refused"
        return "stored"

    async with first, second:
        outcomes = sorted(await asyncio.gather(apply(first), apply(second)))
    kept = stored(settings.storage.path)
    assert outcomes == ["refused", "stored"]
    assert kept[("ana", _SAID)] == 1 and kept[("ana", "Ana lives in Porto")] == 1
    assert kept[("ana", "Ana works as a nurse")] == 1


async def _expired(pipeline: Any, event_id: str) -> bool:
    return await pipeline.queue.status(event_id) is None


async def test_a_user_erased_while_a_worker_runs_their_event_gets_nothing_of_it_stored(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, fake_llm: Script, embedder: USEEmbedder
) -> None:
    # The worker checked the user was not erased, then waited on the LLM; the user was erased
    # meanwhile (DELETE /v1/users/ana); its commit came after the erasure and stored it all.
    settings = _fine_settings(tmp_path, redis_server, prefix, fake_llm)
    fake_llm.default_json(_FACTS)
    fake_llm.hang(1.5)  # the extraction call: answered 1.5 s later
    async with producer(settings, embedder) as (pipeline, memory):
        await memory.add("I keep bees.", user_id="ana", mode="fast")  # something to erase already
        assert (await pipeline.submit_add(memory, _payload(), event_id="chat-9")).accepted
        running = asyncio.create_task(burst(settings, embedder))
        await wait_until(lambda: _asked(fake_llm), timeout=30, what="the worker calling the LLM")
        await memory.delete_user("ana")
        report = await running
        record = await pipeline.event("chat-9")
    assert report.processed == 1 and report.dead_lettered == 0
    assert record.status is EventStatus.DONE and "deleted" in str(record.result["skipped"])
    assert stored(settings.storage.path) == Counter()  # nothing of ana's, before or after


async def _asked(llm: Script) -> bool:
    return len(llm.requests) > 0
