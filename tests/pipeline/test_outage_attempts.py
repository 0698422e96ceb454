"""An outage of Redis, or of the store, uses up no attempt of the events a worker holds: the batch
waits and runs again once they answer. Attempts count failures of an event's own processing only."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from memoryd import AsyncMemory
from memoryd.embedders import Embedder
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import StorageError
from memoryd.models import AddResults
from memoryd.pipeline import EventStatus
from memoryd.pipeline.batching import AddCall
from memoryd.pipeline.local_redis import LocalRedis
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import producer, stored, turn, worker_over


class _StopsRedis:
    """An embedder that stops Redis as it first embeds (a worker's batch, before the owners' locks)
    and starts it again ``down_s`` later."""

    def __init__(self, inner: Embedder, redis: LocalRedis, down_s: float) -> None:
        self.inner, self.redis, self.down_s = inner, redis, down_s
        self.name, self.dim = inner.name, inner.dim
        self.restart: threading.Timer | None = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.restart is None:
            self.redis.stop()
            self.restart = threading.Timer(self.down_s, self.redis.start)
            self.restart.start()
        return self.inner.embed(texts)


async def test_a_redis_outage_while_a_batch_runs_uses_up_no_attempt(
    tmp_path: Path, redis_server: LocalRedis, embedder: USEEmbedder
) -> None:
    redis = LocalRedis(tmp_path / "redis")  # its own server, which it stops (redis_server: installed)
    redis.start()
    # One attempt each: an outage that cost one would dead-letter every event.
    settings = pipeline_settings(tmp_path / "m.db", redis.url, "blip:", max_attempts=1, batch_size=50)
    flaky = _StopsRedis(embedder, redis, down_s=1.5)
    try:
        async with producer(settings, embedder) as (pipeline, memory):
            ids = [(await pipeline.submit_add(memory, turn(f"u{n % 4}", n), event_id=f"b-{n}")).event_id
                   for n in range(12)]  # fmt: skip
            async with worker_over(settings, flaky) as worker:
                report = await asyncio.wait_for(worker.run(burst=True), timeout=60)
            assert flaky.restart is not None  # Redis did go down mid-batch
            assert (report.processed, report.dead_lettered, report.retried) == (12, 0, 0)
            records = [await pipeline.event(e) for e in ids]
            assert {(r.status, r.attempts) for r in records} == {(EventStatus.DONE, 1)}
            assert (await pipeline.queue.stats()).dlq_size == 0
    finally:
        if flaky.restart is not None:
            flaky.restart.join()
        redis.stop()
    assert len(stored(settings.storage.path)) == 12


class _Store:
    """The worker's store made unreachable for a while: every read of its event records fails."""

    def __init__(self, worker_memory: object, monkeypatch: pytest.MonkeyPatch) -> None:
        records = worker_memory.storage.records  # type: ignore[attr-defined]
        self.down_until = 0.0
        self.reads_refused = 0
        original = records.applied

        async def applied(ids: list[str]) -> dict[str, str]:
            if time.monotonic() < self.down_until:
                self.reads_refused += 1
                raise StorageError("SQLite error: disk I/O error")
            result: dict[str, str] = await original(ids)
            return result

        monkeypatch.setattr(records, "applied", applied)

    def down_for(self, seconds: float) -> None:
        self.down_until = time.monotonic() + seconds


async def test_a_store_outage_before_the_adds_uses_up_no_attempt(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, max_attempts=1)
    async with producer(settings, embedder) as (pipeline, memory), worker_over(settings, embedder) as worker:
        for n in range(3):
            await pipeline.submit_add(memory, turn("ana", n), event_id=f"s-{n}")
        store = _Store(worker.memory, monkeypatch)
        store.down_for(0.8)  # the batch's first read of the store fails, and those after it for 0.8 s
        report = await asyncio.wait_for(worker.run(burst=True), timeout=60)

        assert (report.processed, report.dead_lettered) == (3, 0) and report.retried >= 3
        assert store.reads_refused >= 2
        for n in range(3):
            record = await pipeline.event(f"s-{n}")
            assert (record.status, record.attempts) == (EventStatus.DONE, 1)
    assert len(stored(settings.storage.path)) == 3


async def test_a_store_outage_during_an_add_uses_up_no_attempt(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, max_attempts=1)
    async with producer(settings, embedder) as (pipeline, memory), worker_over(settings, embedder) as worker:
        await pipeline.submit_add(memory, turn("ana", 1), event_id="mid-add")
        store = _Store(worker.memory, monkeypatch)
        add, failures = worker._add, list[AddCall]()

        async def failing_add(mem: AsyncMemory, call: AddCall) -> AddResults:
            if not failures:  # the add fails as the store goes down; the read asking it after fails too
                failures.append(call)
                store.down_for(0.5)
                raise StorageError("SQLite error: disk I/O error")
            return await add(mem, call)

        monkeypatch.setattr(worker, "_add", failing_add)
        report = await asyncio.wait_for(worker.run(burst=True), timeout=60)

        assert failures and store.reads_refused >= 1
        assert (report.processed, report.dead_lettered) == (1, 0) and report.retried >= 1
        record = await pipeline.event("mid-add")
        assert (record.status, record.attempts) == (EventStatus.DONE, 1)
    assert len(stored(settings.storage.path)) == 1


async def test_an_add_the_store_refuses_while_it_answers_still_uses_up_its_attempts(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, max_attempts=2)
    async with producer(settings, embedder) as (pipeline, memory), worker_over(settings, embedder) as worker:
        await pipeline.submit_add(memory, turn("ana", 1), event_id="too-big")

        async def refused(mem: AsyncMemory, call: AddCall) -> AddResults:
            raise StorageError("SQLite error: string or blob too big")  # this event's, not an outage

        monkeypatch.setattr(worker, "_add", refused)
        report = await asyncio.wait_for(worker.run(burst=True), timeout=60)
        assert (report.retried, report.dead_lettered) == (1, 1)
        record = await pipeline.event("too-big")
        assert (record.status, record.attempts) == (EventStatus.DEAD_LETTERED, 2)


async def test_a_reread_whose_answer_is_lost_costs_no_attempt(
    tmp_path: Path, redis_server: LocalRedis, embedder: USEEmbedder
) -> None:
    """After a Redis failure a worker read its pending entries again with ``XREADGROUP 0``, which
    Redis counts as one more delivery, and counted it off only once the answer and the delivery
    counts both came back: a connection lost in between left a delivery Redis counted and the
    worker never counted off, so an outage cost an attempt (``max_attempts=1``: dead-lettered,
    "delivered 2 times without an outcome"). The re-read after a failure now counts nothing."""
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, "rr:", max_attempts=1)
    async with producer(settings, embedder) as (pipeline, memory):
        await pipeline.submit_add(memory, turn("ana", 1), event_id="r-1")
        async with worker_over(settings, embedder) as worker:
            real_hold, real_pending = worker._hold, worker.queue.client.xpending_range
            calls = {"hold": 0, "pending": 0}

            async def hold(owners: object) -> object:
                calls["hold"] += 1
                if calls["hold"] == 1:
                    raise StorageError("Redis is unreachable (an outage)")
                return await real_hold(owners)

            async def pending(*args: object, **kwargs: object) -> object:
                calls["pending"] += 1
                if calls["pending"] == 1:  # the connection drops as the worker reads its entries again
                    from redis.exceptions import ConnectionError as RedisConnectionError

                    raise RedisConnectionError("Connection closed by server.")
                return await real_pending(*args, **kwargs)

            worker._hold = hold  # type: ignore[method-assign]
            worker.queue.client.xpending_range = pending
            await asyncio.wait_for(worker.run(burst=True), timeout=60)
        record = await pipeline.event("r-1")
        assert record is not None and record.status is EventStatus.DONE, record
        assert record.attempts == 1
