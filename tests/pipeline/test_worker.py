"""Producer and worker against a real Redis and a real store: processing, duplicates, poison, retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from memoryd import AsyncMemory, Settings
from memoryd.config import DEFAULT_TENANT
from memoryd.embedders.openai import OpenAIEmbedder
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import BackendUnavailableError
from memoryd.pipeline import AddPayload, EventQueue, EventStatus, PipelineEvent
from memoryd.pipeline.local_redis import LocalRedis
from memoryd.pipeline.prefetch import PrefetchEmbedder
from tests.fakes.llm_server import Script
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import burst, producer, stored, turn, wait_until, worker_over


class RefusingOne:
    """The real embedder behind a remote service that refuses any batch holding ``bad`` with an
    HTTP 400 (as an OpenAI-compatible endpoint does for an input over the model's limit)."""

    def __init__(self, inner: USEEmbedder, bad: str) -> None:
        self.inner, self.name, self.dim, self.bad = inner, inner.name, inner.dim, bad

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.bad in texts:
            raise BackendUnavailableError("embedder 'remote': HTTP 400: input too long", status=400)
        return self.inner.embed(texts)


class Counting:
    """The real embedder, remembering every text it was asked for."""

    def __init__(self, inner: USEEmbedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.embed(texts)


async def test_queued_adds_are_processed_in_one_batch_and_become_searchable(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue
) -> None:
    async with producer(psettings, embedder) as (pipeline, memory):
        subs = [await pipeline.submit_add(memory, turn(f"user{n % 3}", n, messages=2)) for n in range(12)]
        session = AddPayload(
            [{"role": "user", "content": "Shall we sail to the island?", "name": "Ana"},
             {"role": "assistant", "content": "The ferry leaves at nine."}],
            user_id="ana", run_id="trip", timestamp="2024-05-01T10:00:00Z",
        )  # fmt: skip
        subs.append(await pipeline.submit_add(memory, session, source="gateway"))
        assert all(s.accepted and s.status is EventStatus.QUEUED for s in subs)
        assert len({s.event_id for s in subs}) == 13
        assert (await pipeline.event(subs[0].event_id)).status is EventStatus.QUEUED

        async with worker_over(psettings, embedder) as worker:
            report = await worker.run(burst=True)
            prefetch = worker.memory.loaded_embedder
            assert isinstance(prefetch, PrefetchEmbedder)
            assert (prefetch.hits, prefetch.misses) == (26, 0)  # 4 scopes' texts embedded in one batch
        assert (report.processed, report.batches, report.dead_lettered) == (13, 1, 0)

        for sub in subs:
            record = await pipeline.event(sub.event_id)
            assert record.status is EventStatus.DONE and record.attempts == 1 and record.consumer == "w1"
            results = record.result["results"]  # type: ignore[index]
            assert [(r["event"], r["index"]) for r in results] == [("ADD", 0), ("ADD", 1)]
        assert (await pipeline.event(subs[-1].event_id)).source == "gateway"

        hits = await memory.search("fact number 4.1 about the hills", user_id="user1", limit=3)
        assert hits[0].memory.text == "user1 says fact number 4.1 about the hills"
        trip = (await memory.get_all(run_id="trip")).items
        assert {m.event_time.isoformat() for m in trip if m.event_time} == {"2024-05-01T10:00:00+00:00"}
        assert {m.actor for m in trip} == {"Ana", None}

    stats = await queue.stats()
    assert (stats.lag, stats.pending, stats.stream_length, stats.dlq_size) == (0, 0, 0, 0)
    assert stats.counters["enqueued"] == stats.counters["processed"] == 13
    assert set(stored(psettings.storage.path).values()) == {1}


async def test_a_repeated_event_id_or_a_repeated_delivery_is_a_noop(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue
) -> None:
    async with producer(psettings, embedder) as (pipeline, memory):
        first = await pipeline.submit_add(memory, turn("ana", 1), event_id="chat-1")
        again = await pipeline.submit_add(memory, turn("ana", 1), event_id="chat-1")  # a client retry
        assert first.accepted and not again.accepted and again.duplicate
        assert again.to_dict()["event"] == "NOOP" and again.to_dict()["reason"] == "duplicate event"
        assert (await queue.stats()).stream_length == 1  # nothing enqueued twice

        # An external producer (redis-cli XADD) delivers chat-1 once more, and one event of its own.
        client = queue.client  # type: ignore[attr-defined]
        await client.xadd(queue.keys.stream, PipelineEvent("chat-1", turn("ana", 1)).to_fields())
        await client.xadd(queue.keys.stream, PipelineEvent("ext-1", turn("bo", 2), source="cli").to_fields())
        report = await burst(psettings, embedder)
        assert (report.processed, report.duplicates) == (2, 1)

        await client.xadd(queue.keys.stream, PipelineEvent("chat-1", turn("ana", 1)).to_fields())
        later = await burst(psettings, embedder, "w2")  # delivered after it was done
        assert (later.processed, later.duplicates) == (0, 1)

        done = await pipeline.submit_add(memory, turn("ana", 1), event_id="chat-1")
        assert done.duplicate and done.status is EventStatus.DONE
        assert done.record is not None and done.record.result is not None
        assert done.record.result["results"][0]["event"] == "ADD"
        assert (await pipeline.event("ext-1")).status is EventStatus.DONE

    assert stored(psettings.storage.path)[("ana", "ana says fact number 1.0 about the hills")] == 1
    counters = (await queue.stats()).counters
    assert (counters["duplicates"], counters["duplicates_enqueued"], counters["processed"]) == (2, 2, 2)


async def test_poison_events_reach_the_dlq_with_their_error_and_replay_after_a_fix(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue
) -> None:
    strict = psettings.model_copy(
        update={"limits": psettings.limits.model_copy(update={"max_message_chars": 80})}
    )
    client = queue.client  # type: ignore[attr-defined]
    long_text = "a very long message " * 10
    async with producer(psettings, embedder) as (pipeline, memory):
        too_long = await pipeline.submit_add(memory, AddPayload(long_text, user_id="ana"), event_id="long-1")
        good = await pipeline.submit_add(memory, turn("ana", 2), event_id="good-1")
        future = {**PipelineEvent("future-1", turn("ana", 3)).to_fields(), "v": "99"}
        garbled = {**PipelineEvent("garbled-1", turn("ana", 4)).to_fields(), "payload": "{oops"}
        fine = PipelineEvent("fine-1", AddPayload("extract me", user_id="ana", mode="fine")).to_fields()
        for fields in (future, garbled, fine):
            await client.xadd(queue.keys.stream, fields)

        report = await burst(strict, embedder)  # a worker whose limits the long message exceeds
        assert (report.processed, report.dead_lettered) == (1, 4)
        assert (await pipeline.event(good.event_id)).status is EventStatus.DONE

        letters = {d.event_id: d for d in await queue.dlq_list(10)}
        assert set(letters) == {"long-1", "future-1", "garbled-1", "fine-1"}
        assert letters["long-1"].error["code"] == "payload_too_large"
        assert letters["long-1"].error["field"] == "messages[0].content"  # queued as it reads: an object
        assert "upgrade the workers" in letters["future-1"].error["message"]
        assert letters["garbled-1"].error["field"] == "event.payload"
        assert letters["fine-1"].error["code"] == "not_supported"
        assert all(d.attempts == 1 and not d.error["transient"] for d in letters.values())
        payload = json.loads(letters["long-1"].fields["payload"])  # the event itself
        assert payload["messages"] == [{"role": "user", "content": long_text}]

        record = await pipeline.event(too_long.event_id)
        assert record.status is EventStatus.DEAD_LETTERED and record.dlq_id == letters["long-1"].dlq_id
        assert record.error is not None and record.error["code"] == "payload_too_large"
        assert (await queue.stats()).dlq_size == 4

        # The fix: workers with the default limit. Replay that one event.
        moved = (await queue.dlq_replay([letters["long-1"]])).stream_ids
        assert len(moved) == 1 and (await queue.dlq_replay([letters["long-1"]])).stream_ids == []  # only once
        assert (await pipeline.event("long-1")).status is EventStatus.QUEUED
        report = await burst(psettings, embedder, "fixed")
        assert (report.processed, report.dead_lettered) == (1, 0)
        record = await pipeline.event("long-1")
        assert record.status is EventStatus.DONE and record.result is not None
        assert record.result["results"][0]["event"] == "ADD"
        assert {d.event_id for d in await queue.dlq_list(10)} == {"future-1", "garbled-1", "fine-1"}
    assert stored(psettings.storage.path)[("ana", long_text)] == 1


async def test_transient_failures_are_retried_with_backoff_then_dead_lettered(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, fake_llm: Script
) -> None:
    settings = pipeline_settings(
        tmp_path / "remote.db", redis_server.url, prefix,
        {"embedder": {"provider": "openai", "model": "emb", "base_url": fake_llm.base_url, "dim": 16}},
        max_attempts=3,
    )  # fmt: skip
    remote = OpenAIEmbedder.from_config(settings.embedder)
    fake_llm.fail(429, retry_after=60, times=2)  # the embedding endpoint is overloaded, twice
    async with producer(settings, remote) as (pipeline, memory), worker_over(settings, remote) as worker:
        flaky = await pipeline.submit_add(memory, turn("ana", 1), event_id="flaky-1")
        await worker.process(await worker.queue.read(worker.consumer, 10, None))  # the first attempt
        record = await pipeline.event(flaky.event_id)
        assert record.status is EventStatus.FAILED and record.retry_at is not None
        assert record.error is not None and record.error["transient"] and record.error["attempt"] == 1
        assert (await worker.queue.stats()).retry_scheduled == 1

        report = await worker.run(burst=True)
        assert (report.processed, report.retried) == (1, 2)
        record = await pipeline.event(flaky.event_id)
        assert record.status is EventStatus.DONE and record.attempts == 3 and record.error is None

        fake_llm.fail(429, retry_after=60, times=10)  # now it stays down
        await pipeline.submit_add(memory, turn("ana", 2), event_id="doomed-1")
        worker._stop.clear()
        report = await worker.run(burst=True)
        (letter,) = await worker.queue.dlq_list(10)
        assert letter.event_id == "doomed-1" and letter.attempts == 3
        assert letter.error["code"] == "backend_unavailable" and letter.error["transient"]
        assert (await pipeline.event("doomed-1")).status is EventStatus.DEAD_LETTERED
    remote.close()
    assert stored(settings.storage.path) == {("ana", "ana says fact number 1.0 about the hills"): 1}


async def test_a_worker_that_dies_after_committing_leaves_nothing_twice_in_the_store(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, claim_idle_ms=300)
    async with producer(settings, embedder) as (pipeline, memory):
        events = [
            await pipeline.submit_add(memory, turn(u, n, 2)) for n, u in enumerate(["ana", "bo", "ana"])
        ]
        queue = pipeline.queue
        # The worker that dies: it takes the events, locks them, commits them, and is gone before
        # recording anything or acknowledging (a SIGKILL between commit and XACK).
        taken = await queue.read("ghost", 10, None)
        items = [(e.event_id, 1, d.stream_id, "") for e, d in zip(events, taken)]
        assert [b.state for b in await queue.begin(items, "ghost", 300)] == ["claimed"] * 3
        async with AsyncMemory(settings, embedder=embedder) as ghost:
            for n, u in enumerate(["ana", "bo", "ana"]):
                await ghost.add(turn(u, n, 2).messages, user_id=u)

        report = await burst(settings, embedder, "rescuer")  # reclaims them once idle
        assert (report.reclaimed, report.processed) == (3, 3)
        for event in events:
            record = await pipeline.event(event.event_id)
            assert record.status is EventStatus.DONE and record.attempts == 2 and record.consumer == "rescuer"
            results = record.result["results"]  # type: ignore[index]
            assert [r["event"] for r in results] == ["NOOP", "NOOP"]
            assert all(r["reason"].startswith("duplicate of memory") for r in results)
        assert (await queue.stats()).pending == 0
    counts = stored(settings.storage.path)
    assert len(counts) == 6 and set(counts.values()) == {1}


async def test_a_batch_is_embedded_while_another_worker_holds_its_users_lock(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder, queue: EventQueue
) -> None:
    """The model's work, most of a batch's, needs no user's lock: a worker embeds its batch while
    another worker still adds for the same user, and then only commits once the lock is free."""
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, claim_idle_ms=60_000)
    await queue.ensure_group()
    await queue.enqueue_many([PipelineEvent(f"ev-{n}", turn("ana", n, messages=2)) for n in range(3)])
    owner = f"{DEFAULT_TENANT}:user:ana"
    assert await queue.hold_owners([owner], "other-worker", 60_000) == [True]
    counting = Counting(embedder)
    async with worker_over(settings, counting) as worker:
        run = asyncio.create_task(worker.run(burst=True))
        try:
            await wait_until(lambda: _now(len(counting.texts) == 6), timeout=15, what="the batch's embedding")
            await asyncio.sleep(0.3)
            assert worker.report.processed == 0  # embedded, but not stored while the lock is taken
            record = await queue.status("ev-0")
            assert record is not None and record.status is EventStatus.PROCESSING
            await queue.release_owners([owner], "other-worker")
            report = await asyncio.wait_for(run, timeout=30)
        finally:
            run.cancel()
    assert report.processed == 3
    said = [f"ana says fact number {n}.{i} about the {t}" for n, t in enumerate(["sea", "hills", "city"])
            for i in range(2)]  # fmt: skip
    assert sorted(counting.texts) == sorted(said)  # each once: the adds found them embedded
    assert sum(stored(settings.storage.path).values()) == 6


async def _now(value: bool) -> bool:
    return value


async def test_a_text_the_model_refuses_fails_its_own_event_not_the_batch(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder, queue: EventQueue
) -> None:
    """The batch's one embedding call fails for one text: the other events are stored at their
    first attempt (each add embeds on its own), and only the event at fault is retried."""
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, max_attempts=2)
    bad = turn("cy", 7)
    await queue.ensure_group()
    await queue.enqueue_many(
        [PipelineEvent("ev-ana", turn("ana", 1)), PipelineEvent("ev-cy", bad), PipelineEvent("ev-bo", turn("bo", 2))]
    )
    refusing = RefusingOne(embedder, bad.messages[0]["content"])  # type: ignore[index]
    async with worker_over(settings, refusing) as worker:
        report = await asyncio.wait_for(worker.run(burst=True), timeout=60)
    for good in ("ev-ana", "ev-bo"):
        record = await queue.status(good)
        assert record is not None and record.status is EventStatus.DONE and record.attempts == 1
    (letter,) = await queue.dlq_list(10)
    assert letter.event_id == "ev-cy" and letter.attempts == 2 and "HTTP 400" in letter.error["message"]
    assert (report.processed, report.dead_lettered) == (2, 1)
    assert sum(stored(settings.storage.path).values()) == 2
