"""Races around one event, against a real Redis and a real store: an event id reused while its
dead letter waits, a worker that commits after another dead-lettered its event, an owner lock
taken while Redis fails, a write-back whose answer was lost, deliveries lost to dead workers,
and the heartbeats of another consumer group."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import BackendUnavailableError, StorageError
from memoryd.gateway import writeback
from memoryd.gateway.writeback import Turn, WriteBack
from memoryd.pipeline import AddPayload, EventQueue, EventStatus, PipelineEvent, build_queue
from memoryd.pipeline import producer as producer_module
from memoryd.pipeline.local_redis import LocalRedis
from tests.pipeline.conftest import PipelineCli, doc, pipeline_settings
from tests.pipeline.helpers import burst, producer, stored, wait_until, worker_over

BEES = AddPayload([{"role": "user", "content": "I keep bees in the garden"}], user_id="ana")
LISBON = AddPayload([{"role": "user", "content": "My sister lives in Lisbon"}], user_id="ana")


class Switched:
    """The real embedder behind switches: ``failing`` (a remote one that is down), ``gate`` (cleared:
    each call waits for it, as a worker stalled in a long call does; ``waiting`` says one is)."""

    def __init__(self, inner: USEEmbedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.failing = False
        self.gate, self.waiting = threading.Event(), threading.Event()
        self.gate.set()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.failing:
            raise BackendUnavailableError("embedder 'switched' is unreachable")
        self.waiting.set()
        self.gate.wait(30)
        return self.inner.embed(texts)


def _expired(queue: EventQueue, event_id: str) -> Callable[[], object]:
    async def check() -> bool:
        return await queue.status(event_id) is None

    return check


async def test_a_dead_letter_whose_event_id_was_reused_is_kept_until_it_can_be_replayed_as_itself(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, max_attempts=1, result_ttl_s=1)
    down = Switched(embedder)
    async with producer(settings, embedder) as (pipeline, memory), worker_over(settings, down) as worker:
        queue = pipeline.queue
        assert (await pipeline.submit_add(memory, BEES, event_id="chat-1")).accepted
        down.failing = True
        await worker.process(await worker.queue.read(worker.consumer, 10, None))
        (letter,) = await queue.dlq_list(10)
        await wait_until(_expired(queue, "chat-1"), timeout=10, what="the dead letter's status to expire")
        assert (await pipeline.submit_add(memory, LISBON, event_id="chat-1")).accepted  # another add, same id

        replayed = await queue.dlq_replay([letter])  # would be taken for the Lisbon add, and dropped
        assert [d.dlq_id for d in await queue.dlq_list(10)] == [letter.dlq_id]  # so it stays
        assert (replayed.stream_ids, replayed.conflicts, replayed.finished) == ([], [letter.dlq_id], [])
        record = await queue.status("chat-1")
        assert record is not None and record.digest == LISBON.digest() and record.status is EventStatus.QUEUED
        report = await burst(settings, embedder)
        assert (report.processed, report.duplicates, report.dead_lettered) == (1, 0, 0)

        await wait_until(_expired(queue, "chat-1"), timeout=10, what="the Lisbon add's status to expire")
        assert len((await queue.dlq_replay([letter])).stream_ids) == 1  # now it is itself again
        assert (await burst(settings, embedder)).processed == 1
        record = await queue.status("chat-1")
        assert record is not None and record.status is EventStatus.DONE and record.digest == BEES.digest()
    assert stored(settings.storage.path) == {
        ("ana", "My sister lives in Lisbon"): 1,
        ("ana", "I keep bees in the garden"): 1,
    }


async def test_a_delivery_of_another_add_under_a_known_event_id_is_dead_lettered_not_dropped(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue
) -> None:
    client = queue.client  # type: ignore[attr-defined]
    async with producer(psettings, embedder) as (pipeline, memory):
        assert (await pipeline.submit_add(memory, LISBON, event_id="chat-1")).accepted
        assert (await burst(psettings, embedder)).processed == 1
        # Entries of another add under a known id (an external producer's, or one a replay moved back
        # before replays compared digests): after the first add ended, and right after it in one batch.
        await client.xadd(queue.keys.stream, PipelineEvent("chat-1", BEES).to_fields())
        await client.xadd(queue.keys.stream, PipelineEvent("raw-0", LISBON).to_fields())
        await client.xadd(queue.keys.stream, PipelineEvent("raw-0", BEES).to_fields())
        report = await burst(psettings, embedder)
        assert (report.processed, report.duplicates, report.dead_lettered) == (1, 0, 2)
        record = await pipeline.event("chat-1")
        assert record.status is EventStatus.DONE and record.result and record.result["results"]
        letters = await queue.dlq_list(10)
        assert sorted(d.event_id or "" for d in letters) == ["chat-1", "raw-0"]
        assert {d.error["code"] for d in letters} == {"conflict"}
        assert all(json.loads(d.fields["payload"]) == json.loads(BEES.to_json()) for d in letters)


async def test_an_event_dead_lettered_while_a_stalled_worker_commits_it_ends_done_and_leaves_the_dlq(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, max_attempts=1)
    stalled = Switched(embedder)
    async with (
        producer(settings, embedder) as (pipeline, memory),
        worker_over(settings, stalled, "A") as a,
        worker_over(settings, embedder, "B") as b,
    ):
        queue = pipeline.queue
        await pipeline.submit_add(memory, BEES, event_id="ev-1")
        stalled.gate.clear()
        running = asyncio.create_task(a.process(await a.queue.read("A", 10, None)))
        try:
            await asyncio.to_thread(stalled.waiting.wait, 30)  # A holds it, stuck in its embedding call
            await asyncio.sleep(settings.pipeline.claim_idle_ms / 1000 + 0.2)  # A's lease runs out
            await b.process(await b.queue.claim_idle("B", settings.pipeline.claim_idle_ms, 10))
            assert (await pipeline.event("ev-1")).status is EventStatus.DEAD_LETTERED  # over max_attempts
            (letter,) = await queue.dlq_list(10)
        finally:
            stalled.gate.set()
        await running  # A commits, then records done
        record = await pipeline.event("ev-1")
        assert record.status is EventStatus.DONE and record.result and record.result["results"]
        assert record.dlq_id is None and await queue.dlq_list(10) == []

        # Such a letter left behind (by an older version): a replay removes it, the result stays.
        client = queue.client  # type: ignore[attr-defined]
        await client.xadd(queue.keys.dlq, {**letter.fields, "dlq_attempts": "2"})
        (stale,) = await queue.dlq_list(10)
        length = await client.xlen(queue.keys.stream)
        replayed = await queue.dlq_replay([stale])
        assert (replayed.stream_ids, replayed.finished) == ([], [stale.dlq_id])
        assert await queue.dlq_list(10) == [] and await client.xlen(queue.keys.stream) == length
        assert (await pipeline.event("ev-1")).result == record.result
    assert stored(settings.storage.path) == {("ana", "I keep bees in the garden"): 1}


async def test_owner_locks_taken_before_a_redis_error_are_let_go(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    amy, zed = "default:user:amy", "default:user:zed"
    await queue.client.set(queue.keys.owner(zed), "other", px=60_000)  # type: ignore[attr-defined]
    async with worker_over(psettings, embedder, "A") as worker:
        hold = worker.queue.hold_owners

        async def failing(owners: list[str], consumer: str, lease_ms: int) -> list[bool]:
            if owners == [zed]:  # while it waits for zed, Redis fails
                raise StorageError("Redis at x is unreachable (ConnectionError) trying to lock owners")
            return await hold(owners, consumer, lease_ms)

        monkeypatch.setattr(worker.queue, "hold_owners", failing)
        with pytest.raises(StorageError):
            await worker._hold_owners([zed, amy])
        assert worker._owners == set()  # the heartbeat would take them again for good
        assert await queue.client.get(queue.keys.owner(amy)) is None  # type: ignore[attr-defined]
        assert await queue.client.get(queue.keys.owner(zed)) == "other"  # type: ignore[attr-defined]


async def test_a_write_back_retried_after_a_lost_answer_keeps_its_event_id(
    tmp_path: Path,
    redis_server: LocalRedis,
    prefix: str,
    embedder: USEEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, on_unavailable="reject")
    monkeypatch.setattr(writeback, "RETRIES", (0.01, 0.01))
    monkeypatch.setattr(producer_module, "RETRY_AFTER_S", 0.0)
    async with producer(settings, embedder) as (pipeline, memory):
        enqueue, ids = pipeline.queue.enqueue, []

        async def late(event: PipelineEvent, also: tuple[str, ...] = ()) -> object:
            answer = await enqueue(event, also)  # Redis takes it...
            ids.append(event.event_id)
            if len(ids) == 1:  # ...but its first answer never arrives
                raise StorageError("Redis at x is unreachable (TimeoutError: Timeout reading from socket)")
            return answer

        monkeypatch.setattr(pipeline.queue, "enqueue", late)
        wb = WriteBack(settings.limits)
        wb.schedule(memory, pipeline, Turn("ana", "s1", "Where do I keep my bees?", "In the garden.", "gpt"))
        await wb.drain(30)
        assert len(ids) == 2 and ids[0] == ids[1]
        assert wb.counts["queued"] == 1 and wb.counts["failed"] == 0
        assert (await pipeline.queue.stats()).stream_length == 1
        report = await burst(settings, embedder)
        assert (report.processed, report.duplicates) == (1, 0)
    assert set(stored(settings.storage.path).values()) == {1}


async def test_a_delivery_lost_to_a_dead_worker_counts_toward_max_attempts(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, max_attempts=3)
    down = Switched(embedder)
    down.failing = True
    async with producer(settings, embedder) as (pipeline, memory), worker_over(settings, down) as worker:
        queue = pipeline.queue
        await pipeline.submit_add(memory, BEES, event_id="ev-1")
        assert len(await queue.read("dead", 10, None)) == 1  # delivery 1: its worker dies
        await worker.process(await worker.queue.claim_idle(worker.consumer, 0, 10))  # delivery 2 fails
        record = await pipeline.event("ev-1")
        assert record.status is EventStatus.FAILED and record.attempts == 2
        client = queue.client  # type: ignore[attr-defined]
        (member,) = await client.zrange(queue.keys.retry, 0, -1)
        flat = json.loads(member)
        assert dict(zip(flat[::2], flat[1::2]))["attempt"] == "3"  # the 3rd delivery, not the 2nd again
        await client.zadd(queue.keys.retry, {member: 0})  # due now
        await queue.move_due_retries(10)
        await worker.process(await worker.queue.read(worker.consumer, 10, None))  # delivery 3 fails too
        record = await pipeline.event("ev-1")
        assert record.status is EventStatus.DEAD_LETTERED and record.attempts == 3
        assert [d.attempts for d in await queue.dlq_list(10)] == [3]


def test_worker_check_and_health_count_only_the_groups_workers(
    pipeline_cli: Callable[..., PipelineCli],
) -> None:
    cli = pipeline_cli()

    async def beat() -> None:  # a live worker of group memoryd; none of group reporting
        queue = build_queue(cli.settings.pipeline)
        try:
            await queue.ensure_group()
            info = {"consumer": "w-memoryd", "group": "memoryd", "host": "h"}
            await queue.heartbeat("w-memoryd", info, 60_000)
        finally:
            await queue.close()

    asyncio.run(beat())
    other = cli.run("worker", "--check", "--group", "reporting", "--json")
    assert other.exit_code == 1 and doc(other)["workers"] == [] and doc(other)["workers_alive"] == 0
    mine = cli.run("worker", "--check", "--group", "memoryd", "--json")
    assert mine.exit_code == 0 and [w["consumer"] for w in doc(mine)["workers"]] == ["w-memoryd"]


def test_workers_of_two_groups_may_share_a_name_without_hiding_each_other(
    pipeline_cli: Callable[..., PipelineCli],
) -> None:
    """Heartbeats were kept by consumer name alone: a worker of another group named the same
    overwrote this group's, and `worker --check` said no worker of the group was alive."""
    cli = pipeline_cli()

    async def beat() -> None:
        for group in ("memoryd", "reporting"):
            queue = build_queue(cli.settings.pipeline.model_copy(update={"group": group}))
            try:
                await queue.ensure_group()
                await queue.heartbeat("w-1", {"consumer": "w-1", "group": group, "host": "h"}, 60_000)
            finally:
                await queue.close()

    asyncio.run(beat())
    for group in ("memoryd", "reporting"):
        alive = cli.run("worker", "--check", "--group", group, "--consumer", "w-1", "--json")
        assert alive.exit_code == 0, (group, alive.output)
        assert [w["group"] for w in doc(alive)["workers"]] == [group]
