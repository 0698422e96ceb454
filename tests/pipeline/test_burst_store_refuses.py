"""A ``--burst`` worker over a store that refuses writes (its disk full) ends with an error saying
why (``memoryd worker --burst`` exits 1), once the store has refused them for 30 s (as long as a
burst waits for Redis; 2 s here) and each event it found has been tried; the events are kept: they
wait, queued, for a retry, with no attempt used up.

Before, an event waiting on the store used up no attempt, so it came back again and again and the
burst never ended: a cron job piled up behind a full disk. The disk is a real one: a small tmpfs
holding the store, filled up by a file once the worker has opened it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import ConfigError, StorageError
from memoryd.pipeline import EventStatus
from memoryd.pipeline import worker as worker_module
from memoryd.pipeline.local_redis import LocalRedis
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import burst, producer, stored, turn, worker_over
from tests.pipeline.test_store_refuses_writes import fill, small_disk


async def test_a_burst_over_a_full_disk_ends_with_an_error_and_keeps_the_events(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    monkeypatch.setattr(worker_module, "BURST_CONNECT_S", 2.0)  # 30 s in real use
    with small_disk(tmp_path / "disk") as disk:
        settings = pipeline_settings(disk / "m.db", redis_server.url, prefix, batch_size=2)
        async with AsyncMemory(settings, embedder=embedder):
            pass  # the store, created
        ids = [f"full-{n}" for n in range(5)]
        async with producer(settings, embedder) as (pipeline, memory):
            for n, event_id in enumerate(ids):
                await pipeline.submit_add(memory, turn("ana", n), event_id=event_id)
            async with worker_over(settings, embedder, "cron") as worker:
                filler = fill(disk)
                try:
                    # A guard against the hang this test is about, not a measure: it ends after 2 s.
                    with pytest.raises(StorageError) as ended:
                        await asyncio.wait_for(worker.run(burst=True), timeout=120)
                except TimeoutError as exc:
                    raise AssertionError("the burst never ended while the store refused its writes") from exc
                assert not isinstance(ended.value, ConfigError)  # exit code 1, not 2
                message = ended.value.message
                assert "the store refuses" in message and "disk is full" in message, message
                assert "5 events this burst found" in message and "for 2 s" in message and "burst" in message, message
                assert worker.report.processed == 0 and worker.report.dead_lettered == 0

            for event_id in ids:  # each one tried, and kept: queued for a retry, no attempt used up
                record = await pipeline.event(event_id)
                assert record is not None and record.status is EventStatus.QUEUED, record
                assert record.attempts == 1 and record.error and record.error.get("outages", 0) >= 1, record
            stats = await pipeline.queue.stats()
            assert stats.dlq_size == 0 and stats.pending == 0
            assert stats.retry_scheduled + (stats.lag or 0) == len(ids)

            os.remove(filler)  # the disk has room again: a burst now stores them all
            report = await burst(settings, embedder, "cron")
            assert report.processed == len(ids)
            for event_id in ids:
                record = await pipeline.event(event_id)
                assert record is not None and record.status is EventStatus.DONE, record
        assert sum(1 for user, _ in stored(settings.storage.path) if user == "ana") >= len(ids)
