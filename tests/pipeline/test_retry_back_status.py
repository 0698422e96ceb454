"""A retry put back on the stream reads ``queued``, its ``retry_at`` gone.

An event whose attempt failed reads ``failed`` with the time of its retry. When that time came and
the retry went back on the stream, the status record went on saying ``failed`` with a ``retry_at``
in the past until a worker began it, or for good if none did. Real Redis, a real store, a real worker;
the embedding endpoint is the scripted loopback server.
"""

from __future__ import annotations

from pathlib import Path

from memoryd.embedders.openai import OpenAIEmbedder
from memoryd.pipeline import EventStatus
from memoryd.pipeline.local_redis import LocalRedis
from tests.fakes.llm_server import Script
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import producer, stored, turn, wait_until, worker_over


async def test_a_retry_back_on_the_stream_reads_queued_with_its_last_error_and_no_retry_time(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, fake_llm: Script
) -> None:
    settings = pipeline_settings(
        tmp_path / "remote.db", redis_server.url, prefix,
        {"embedder": {"provider": "openai", "model": "emb", "base_url": fake_llm.base_url, "dim": 16}},
    )  # fmt: skip
    remote = OpenAIEmbedder.from_config(settings.embedder)
    fake_llm.fail(429, retry_after=60, times=1)  # the embedding endpoint is overloaded once
    async with producer(settings, remote) as (pipeline, memory), worker_over(settings, remote) as worker:
        flaky = await pipeline.submit_add(memory, turn("ana", 1), event_id="flaky-1")
        await worker.process(await worker.queue.read(worker.consumer, 10, None))
        record = await pipeline.event(flaky.event_id)
        assert record.status is EventStatus.FAILED and record.retry_at is not None

        async def moved() -> bool:
            return await worker.queue.move_due_retries(10) == 1

        await wait_until(moved, what="the retry to fall due")  # 20 ms of backoff
        record = await pipeline.event(flaky.event_id)
        assert record.status is EventStatus.QUEUED and record.retry_at is None, record
        assert record.error is not None and record.error["attempt"] == 1  # why it runs again

        report = await worker.run(burst=True)
        assert report.processed == 1
        record = await pipeline.event(flaky.event_id)
        assert record.status is EventStatus.DONE and record.error is None and record.retry_at is None
    remote.close()
    assert stored(settings.storage.path) == {("ana", "ana says fact number 1.0 about the hills"): 1}
