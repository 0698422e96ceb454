"""Hosts whose clocks disagree: the pipeline reads every time it compares on one clock, Redis's.

Heartbeats were scored with the worker host's clock (a live worker 30 s behind was reported
dead, one ahead alive after its death), retries were due on the clock of the worker that failed
them, and a user's deletion mark (the deleting host's clock) was compared with an event's
``created_at`` (the producer's clock). A host's clock is shifted here through ``time.time`` (what
those hosts read) and an event's ``created_at``, never the system's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from memoryd import Settings
from memoryd.config import DEFAULT_TENANT
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import BackendUnavailableError
from memoryd.pipeline import AddPayload, EventQueue, EventStatus, PipelineEvent
from tests.pipeline.helpers import burst, producer, stored, turn, worker_over

Clock = Callable[[float], AbstractContextManager[None]]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """``with clock(seconds):`` this process reads its clock ``seconds`` off (a host whose clock is
    wrong) inside the block."""
    real = time.time

    @contextmanager
    def shifted(seconds: float) -> Iterator[None]:
        monkeypatch.setattr(time, "time", lambda: real() + seconds)
        try:
            yield
        finally:
            monkeypatch.setattr(time, "time", real)

    yield shifted


async def test_a_workers_heartbeat_is_read_on_redis_clock_whatever_its_hosts_clock_says(
    queue: EventQueue, clock: Clock
) -> None:
    await queue.ensure_group()
    with clock(-30):
        await queue.heartbeat("behind", {"consumer": "behind"}, 3000)  # alive for 3 s
    with clock(+60):
        await queue.heartbeat("ahead", {"consumer": "ahead"}, 300)  # for 0.3 s, then it dies
    assert sorted(w["consumer"] for w in await queue.worker_info()) == ["ahead", "behind"]
    await asyncio.sleep(0.5)
    assert [w["consumer"] for w in await queue.worker_info()] == ["behind"]
    assert [w["consumer"] for w in (await queue.stats()).workers] == ["behind"]
    assert [w["consumer"] for w in await queue.worker_info("behind")] == ["behind"]  # worker --check


async def test_a_users_deletion_is_compared_with_when_redis_took_each_event_not_a_producers_clock(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue
) -> None:
    def said(text: str) -> AddPayload:
        return AddPayload([{"role": "user", "content": text}], user_id="kim")

    now = datetime.now(UTC)
    async with producer(psettings, embedder) as (pipeline, memory), worker_over(psettings, embedder) as w:
        # A producer 20 s ahead queues an add, which a worker takes in hand; then kim is deleted (by
        # a host with a right clock: the queue keeps nothing of kim's, the worker still holds it) ...
        await queue.enqueue(PipelineEvent("kim-0", said("I live in Porto"), created_at=now + timedelta(seconds=20)))
        held = await w.queue.read(w.consumer, 10, None)
        await asyncio.sleep(0.01)
        await pipeline.forget_user(DEFAULT_TENANT, "kim")
        await memory.delete_user("kim")
        await asyncio.sleep(0.01)
        # ... and a producer 20 s behind queues one after the deletion.
        late = PipelineEvent("kim-1", said("I visited Lisbon"), created_at=now - timedelta(seconds=20))
        await queue.enqueue(late)
        await w.process(held)  # skipped: queued (on Redis's clock) before the deletion
    assert w.report.processed == 1
    report = await burst(psettings, embedder)
    assert report.processed == 1
    before, after = await queue.status("kim-0"), await queue.status("kim-1")
    assert before is None  # nothing of the erased user's event is recorded
    assert after is not None and after.result is not None and "skipped" not in after.result
    assert stored(psettings.storage.path) == {("kim", "I visited Lisbon"): 1}


class DownOnce:
    """The real embedder behind a service that is down (503) for its first call."""

    def __init__(self, inner: USEEmbedder) -> None:
        self.inner, self.name, self.dim, self.calls = inner, inner.name, inner.dim, 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == 1:
            raise BackendUnavailableError("embedder 'remote': HTTP 503", status=503)
        return self.inner.embed(texts)


async def test_a_retry_failed_by_a_worker_whose_clock_is_ahead_is_due_on_time_for_the_others(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue, clock: Clock
) -> None:
    await queue.ensure_group()
    await queue.enqueue(PipelineEvent("ev-1", turn("ana", 1)))
    async with worker_over(psettings, DownOnce(embedder), "ahead") as ahead:
        with clock(+60):
            await ahead.process(await ahead.queue.read("ahead", 10, None))  # fails: retry in 20 ms
    record = await queue.status("ev-1")
    assert record is not None and record.status is EventStatus.FAILED
    report = await asyncio.wait_for(burst(psettings, embedder, "right"), timeout=10)  # not in 60 s
    assert report.processed == 1
