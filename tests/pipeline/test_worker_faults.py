"""A worker under faults, against a real Redis and a real store: a drain that outlives its lease,
an embedder outage mid-batch, a poisoned payload, events of a newer version, merged results."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from memoryd import Settings
from memoryd.embedders.openai import OpenAIEmbedder
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import StorageError
from memoryd.pipeline import AddPayload, EventQueue, EventStatus, PipelineEvent, build_queue
from memoryd.pipeline import events as schema
from memoryd.pipeline.local_redis import LocalRedis
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import burst, producer, stored, turn, wait_until, worker_over


def _remote(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, fake_llm: Script, **pipeline: Any
) -> Settings:
    """Settings whose embedder is the scripted OpenAI-compatible endpoint (16-d vectors)."""
    embedder = {"provider": "openai", "model": "emb", "base_url": fake_llm.base_url, "dim": 16}
    return pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, {"embedder": embedder}, **pipeline)


async def test_a_draining_worker_keeps_its_leases_so_no_other_worker_takes_its_batch(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, fake_llm: Script, fake_llm_server: FakeLLMServer
) -> None:
    settings = _remote(tmp_path, redis_server, prefix, fake_llm, claim_idle_ms=1200)  # heartbeats: 0.4 s
    remote = OpenAIEmbedder.from_config(settings.embedder)
    thief = build_queue(settings.pipeline)
    try:
        async with producer(settings, remote) as (pipeline, memory), worker_over(settings, remote, "A") as a:
            await pipeline.submit_add(memory, turn("ana", 1), event_id="chat-42")
            fake_llm.hang(30)  # A's embedding call gets no answer until the endpoint is reset
            run = asyncio.create_task(a.run())
            try:

                async def embedding() -> bool:
                    return (
                        bool(fake_llm.requests)
                        and (await pipeline.event("chat-42")).status.value == "processing"
                    )

                await wait_until(embedding, timeout=30, what="the worker to be embedding its batch")
                a.stop()  # what SIGTERM does: finish the batch in hand
                await asyncio.sleep(2 * settings.pipeline.claim_idle_ms / 1000)  # longer than a lease
                assert a.state == "draining" and not run.done()
                assert await thief.claim_idle("B", settings.pipeline.claim_idle_ms, 10) == []
                fake_llm_server.reset()  # the embedding answers; A finishes its batch
                report = await asyncio.wait_for(run, timeout=30)
            finally:
                fake_llm_server.reset()
                run.cancel()
            assert (report.processed, report.reclaimed) == (1, 0)
            record = await pipeline.event("chat-42")
            assert record.status is EventStatus.DONE and record.consumer == "A" and record.attempts == 1
    finally:
        await thief.close()
        remote.close()
    assert stored(settings.storage.path) == {("ana", "ana says fact number 1.0 about the hills"): 1}


async def test_an_embedder_outage_during_batched_embedding_schedules_retries(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, fake_llm: Script, fake_llm_server: FakeLLMServer
) -> None:
    settings = _remote(tmp_path, redis_server, prefix, fake_llm, max_attempts=3)
    remote = OpenAIEmbedder.from_config(settings.embedder)
    async with producer(settings, remote) as (pipeline, memory), worker_over(settings, remote) as worker:
        for user in ("ana", "bo"):  # two small adds of two users: embedded in one batched call
            await pipeline.submit_add(memory, turn(user, 1), event_id=f"ev-{user}")
        fake_llm.fail(429, retry_after=60, times=50)  # the embedding endpoint is down
        await worker.process(await worker.queue.read(worker.consumer, 10, None))
        for event_id in ("ev-ana", "ev-bo"):
            record = await pipeline.event(event_id)
            assert record.status is EventStatus.FAILED and record.retry_at is not None
            assert record.error is not None and record.error["code"] == "backend_unavailable"
        assert (await worker.queue.stats()).retry_scheduled == 2

        fake_llm_server.reset()  # back up: the retries go through
        report = await asyncio.wait_for(worker.run(burst=True), timeout=30)
        assert (report.processed, report.dead_lettered) == (2, 0)
        assert {(await pipeline.event(e)).attempts for e in ("ev-ana", "ev-bo")} == {2}
    remote.close()
    assert set(stored(settings.storage.path).values()) == {1} and len(stored(settings.storage.path)) == 2


async def test_a_payload_whose_tenant_is_not_a_name_is_dead_lettered_and_the_batch_goes_on(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue
) -> None:
    client = queue.client  # type: ignore[attr-defined]
    async with producer(psettings, embedder) as (pipeline, memory):
        await pipeline.submit_add(memory, turn("ana", 1), event_id="good-1")
        for n, tenant in enumerate((["acme"], "../acme", 7)):
            bad = PipelineEvent(f"bad-{n}", AddPayload("x", user_id="bo")).to_fields()
            bad["payload"] = json.dumps({"messages": "x", "user_id": "bo", "tenant": tenant})
            await client.xadd(queue.keys.stream, bad)
        report = await burst(psettings, embedder)
        assert (report.processed, report.dead_lettered) == (1, 3)
        assert (await pipeline.event("good-1")).status is EventStatus.DONE
        letters = await queue.dlq_list(10)
        assert {d.event_id for d in letters} == {"bad-0", "bad-1", "bad-2"}
        assert {d.error["field"] for d in letters} == {"event.payload.tenant"}
        assert not any(d.error["transient"] for d in letters)
    assert stored(psettings.storage.path) == {("ana", "ana says fact number 1.0 about the hills"): 1}


async def test_a_dead_letter_this_code_cannot_read_is_replayed_with_its_status_reset(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    newer = PipelineEvent(
        "chat-42", AddPayload([{"role": "user", "content": "I keep bees"}], user_id="ana"),
        version=schema.SCHEMA_VERSION + 2, attempt=2,
    )  # fmt: skip
    assert (await queue.enqueue(newer)).created
    assert (await burst(psettings, embedder, "old")).dead_lettered == 1  # too new for this worker
    (letter,) = await queue.dlq_list(10)
    assert (await queue.status("chat-42")).status is EventStatus.DEAD_LETTERED  # type: ignore[union-attr]

    (new_id,) = (await queue.dlq_replay([letter])).stream_ids  # run by code that cannot read it either
    record = await queue.status("chat-42")
    assert record is not None and record.status is EventStatus.QUEUED and record.stream_id == new_id
    ((_, fields),) = await queue.client.xrange(queue.keys.stream, new_id, new_id)  # type: ignore[attr-defined]
    version = newer.to_fields()["v"]
    assert (fields["attempt"], fields["replayed_from"], fields["v"]) == ("1", letter.dlq_id, version)

    monkeypatch.setattr(schema, "MAX_READ_VERSION", schema.SCHEMA_VERSION + 2)  # the upgraded workers
    report = await burst(psettings, embedder, "new")
    assert (report.processed, report.duplicates) == (1, 0)
    record = await queue.status("chat-42")
    assert record is not None and record.status is EventStatus.DONE and record.attempts == 1
    assert stored(psettings.storage.path) == {("ana", "I keep bees"): 1}


async def test_payload_fields_of_a_newer_version_survive_a_retry_and_a_replay(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, fake_llm: Script
) -> None:
    settings = _remote(tmp_path, redis_server, prefix, fake_llm, max_attempts=3)
    remote = OpenAIEmbedder.from_config(settings.embedder)
    next_version = str(schema.SCHEMA_VERSION + 1)

    def newer(event_id: str, **payload: Any) -> dict[str, str]:
        fields = PipelineEvent(event_id, AddPayload("I keep bees", user_id="ana")).to_fields()
        body = {**json.loads(fields["payload"]), "priority": "high", **payload}
        return {**fields, "v": next_version, "payload": json.dumps(body), "trace_id": "t-1"}

    async with worker_over(settings, remote) as worker:
        queue = worker.queue
        client = queue.client  # type: ignore[attr-defined]
        await queue.ensure_group()
        await client.xadd(queue.keys.stream, newer("flaky-1"))  # fails transiently: a retry
        await client.xadd(queue.keys.stream, newer("fine-1", mode="fine"))  # no LLM here: a dead letter
        fake_llm.fail(429, retry_after=60, times=5)
        await worker.process(await queue.read(worker.consumer, 10, None))

        (member,) = await client.zrange(queue.keys.retry, 0, -1)
        flat = json.loads(member)
        retry = dict(zip(flat[::2], flat[1::2]))
        assert json.loads(retry["payload"])["priority"] == "high"
        assert (retry["v"], retry["trace_id"], retry["attempt"]) == (next_version, "t-1", "2")

        (letter,) = await queue.dlq_list(10)
        (new_id,) = (await queue.dlq_replay([letter])).stream_ids
        ((_, replayed),) = await client.xrange(queue.keys.stream, new_id, new_id)
        assert json.loads(replayed["payload"])["priority"] == "high"
        assert json.loads(replayed["payload"])["mode"] == "fine"
        assert (replayed["v"], replayed["trace_id"], replayed["replayed_from"]) == (
            next_version, "t-1", letter.dlq_id,
        )  # fmt: skip
    remote.close()


async def test_events_merged_into_one_add_each_get_the_rule_memories_of_their_own_messages(
    psettings: Settings, embedder: USEEmbedder
) -> None:
    async with producer(psettings, embedder) as (pipeline, memory):
        first = AddPayload(
            [{"role": "user", "content": "I am a vegetarian and I love hiking"}], user_id="ana"
        )
        second = AddPayload([{"role": "user", "content": "we talked about the weather today"}], user_id="ana")
        third = AddPayload([{"role": "user", "content": "I love sailing"}], user_id="ana")
        for event_id, payload in (("e1", first), ("e2", second), ("e3", third)):
            await pipeline.submit_add(memory, payload, event_id=event_id)
        report = await burst(psettings, embedder)
        assert (report.processed, report.batches) == (3, 1)

        results = {e: (await pipeline.event(e)).result["results"] for e in ("e1", "e2", "e3")}  # type: ignore[index]
        rows = {e: [(r["kind"], r["index"], r["memory"]) for r in rs] for e, rs in results.items()}
        # An episode's text is the event's own message: its status keeps the id, not the text.
        assert rows["e1"] == [
            ("episode", 0, None), ("profile", 0, "The user is a vegetarian."), ("preference", 1, "The user loves hiking."),
        ]  # fmt: skip
        assert rows["e2"] == [("episode", 0, None)]
        assert rows["e3"] == [("episode", 0, None), ("preference", 0, "The user loves sailing.")]
        for rs in (results["e1"], results["e3"]):
            assert rs[1]["sources"] == [rs[0]["id"]]  # derived from that event's own message
    assert stored(psettings.storage.path)[("ana", "The user loves hiking.")] == 1


class _CancelEatingQueue:
    """The real queue, whose heartbeat calls after the first (run()'s start) never return and turn
    a cancellation landing in them into a StorageError: what the Redis driver can do when a task is
    cancelled mid-command."""

    def __init__(self, queue: EventQueue) -> None:
        self._queue = queue
        self.eaten = self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)

    async def heartbeat(self, *args: Any) -> None:
        self.calls += 1
        if self.calls == 1:
            return await self._queue.heartbeat(*args)
        try:
            await asyncio.Event().wait()  # a stuck call: run() ends while it is in flight
        except asyncio.CancelledError:
            self.eaten += 1
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            raise StorageError("connection closed while cancelled") from None


async def test_a_heartbeat_that_eats_its_cancellation_does_not_keep_the_worker_running(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, claim_idle_ms=300)
    async with producer(settings, embedder) as (pipeline, memory), worker_over(settings, embedder) as worker:
        queue = _CancelEatingQueue(worker.queue)
        worker.queue = queue  # type: ignore[assignment]
        slow_add = worker._add

        async def add(*args: Any) -> Any:  # longer than a heartbeat interval (0.1 s): one has begun
            await asyncio.sleep(0.5)
            return await slow_add(*args)

        worker._add = add  # type: ignore[method-assign]
        await pipeline.submit_add(memory, turn("ana", 1), event_id="beat-1")
        report = await asyncio.wait_for(worker.run(burst=True), timeout=10)
        assert report.processed == 1 and (await pipeline.event("beat-1")).status is EventStatus.DONE
        assert queue.eaten == 1  # run()'s cancel landed in the stuck heartbeat, and was eaten


async def test_two_workers_applying_one_event_at_once_store_it_once(tmp_path: Path, embedder: USEEmbedder) -> None:
    # A worker that stalled past its lease, and the one that took the event over, both reach the
    # store with it: each looks for duplicates before the other commits (without the event's id in
    # the write, this race stores every message twice; checked by hand).
    from memoryd import AsyncMemory, load_settings
    from memoryd.errors import EventAppliedError
    from memoryd.storage.events import AppliedEvent, applying_events

    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "m.db")}})
    first, second = AsyncMemory(settings, embedder=embedder), AsyncMemory(settings, embedder=embedder)
    payload = turn("dupe", 1, messages=3)

    async def apply(memory: AsyncMemory) -> str:
        try:
            with applying_events([AppliedEvent("race-1", payload.digest())]):
                await memory.add(payload.messages, user_id="dupe")
        except EventAppliedError:
            return "refused"
        return "stored"

    async with first, second:
        await first.add("warm up", user_id="other")
        outcomes = sorted(await asyncio.gather(apply(first), apply(second)))
    counts = stored(tmp_path / "m.db")
    episodes = {k: n for k, n in counts.items() if k[0] == "dupe" and "fact number" in k[1]}
    assert outcomes == ["refused", "stored"] and set(episodes.values()) == {1} and len(episodes) == 3


async def test_every_applied_event_is_recorded_even_when_its_add_writes_nothing_or_was_probed(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue
) -> None:
    # The worker's prefetch probes a batch's adds up to their embeddings; texts embedded a moment
    # ago ask for none, and such a probe ran on to its commit (outside the event's record).
    same = "Thanks, that helps a lot!"
    async with producer(psettings, embedder) as (pipeline, memory), worker_over(psettings, embedder) as worker:
        await pipeline.submit_add(memory, AddPayload(same, user_id="u1"), event_id="e1")
        assert (await asyncio.wait_for(worker.run(burst=True), 60)).processed == 1
        for n, user in ((2, "u2"), (3, "u3"), (4, "u1")):  # u1's is an exact duplicate: nothing new
            await pipeline.submit_add(memory, AddPayload(same, user_id=user), event_id=f"e{n}")
        worker._stop.clear()
        assert (await asyncio.wait_for(worker.run(burst=True), 60)).processed == 4
        results = {e: (await pipeline.event(e)).result for e in ("e2", "e3", "e4")}
        applied = await worker.memory.storage.records.applied(["e1", "e2", "e3", "e4"])
    assert set(applied) == {"e1", "e2", "e3", "e4"}
    assert [r["event"] for r in results["e2"]["results"]] == ["ADD"] == [r["event"] for r in results["e3"]["results"]]
    assert [r["event"] for r in results["e4"]["results"]] == ["NOOP"]
    assert stored(psettings.storage.path)[("u2", same)] == 1


async def test_an_event_applied_by_a_worker_that_died_on_its_last_attempt_ends_done(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    from memoryd.storage.events import AppliedEvent, applying_events

    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, max_attempts=1)
    payload = turn("ana", 9)
    async with producer(settings, embedder) as (pipeline, memory):
        await pipeline.submit_add(memory, payload, event_id="ev-9")
        queue = pipeline.queue
        taken = await queue.client.xreadgroup(settings.pipeline.group, "ghost", {queue.keys.stream: ">"}, count=1)
        assert taken  # a worker took it ...
        with applying_events([AppliedEvent("ev-9", payload.digest())]):  # ... stored it, and died
            await memory.add(payload.messages, user_id="ana")
        await asyncio.sleep(1.2)  # past claim_idle_ms: the next worker reclaims it, its 2nd delivery
        report = await burst(settings, embedder)
        record = await pipeline.event("ev-9")
    assert (report.processed, report.dead_lettered) == (1, 0)  # over max_attempts, but it was applied
    assert record.status is EventStatus.DONE and "applied to the store already" in str(record.result)
    assert stored(settings.storage.path) == Counter({("ana", "ana says fact number 9.0 about the sea"): 1})


async def test_two_sessions_of_one_user_in_one_batch_see_each_others_rule_memories(
    psettings: Settings, embedder: USEEmbedder
) -> None:
    # Calls of different scopes of one batch shared one transaction: each looked for the user's
    # known profile before the other's rows were committed (two homes current, a home twice).
    said = {
        "s1": ("I live in Lisbon.", "2023-01-01T00:00:00Z"),
        "s2": ("I live in Madrid.", "2024-01-01T00:00:00Z"),
        "s3": ("I work at Acme.", "2024-02-01T00:00:00Z"),
        "s4": ("I work at Acme!", "2024-03-01T00:00:00Z"),
    }
    async with producer(psettings, embedder) as (pipeline, memory):
        for run_id, (text, when) in said.items():
            message = {"role": "user", "content": text}
            await pipeline.submit_add(memory, AddPayload([message], user_id="ana", run_id=run_id, timestamp=when))
        assert (await burst(psettings, embedder)).processed == 4
        profile = await memory.get_all(user_id="ana", filters={"kind": "profile"})
    assert sorted(m.text for m in profile.items) == ["The user lives in Madrid.", "The user works at Acme."]
    [acme] = [m for m in profile.items if "Acme" in m.text]
    assert len(acme.source_ids) == 2  # one memory, stated by both turns

