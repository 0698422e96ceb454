"""Redis at ``maxmemory`` with ``noeviction``, filled by the queue: the workers must drain it.

Redis then refuses every command that may grow memory, and a script's writes unless it is
flagged ``allow-oom``: the worker's lock script, its heartbeat, and ``XGROUP CREATE`` (even for
a group that exists) were refused for good, so no worker could free the memory the queue held."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from memoryd.embedders.use import USEEmbedder
from memoryd.errors import StorageError
from memoryd.pipeline import AddPayload, PipelineEvent, build_queue
from memoryd.pipeline.local_redis import LocalRedis
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import worker_over


async def test_a_worker_starts_and_drains_the_queue_that_filled_redis(
    tmp_path: Path, redis_server: LocalRedis, embedder: USEEmbedder
) -> None:
    with LocalRedis(tmp_path / "redis") as server:  # maxmemory-policy noeviction: the default
        settings = pipeline_settings(tmp_path / "m.db", server.url, "full:", batch_size=16)
        queue = build_queue(settings.pipeline)
        client: Any = queue.client  # type: ignore[attr-defined]
        try:
            await queue.ensure_group()
            events = [
                PipelineEvent(f"ev-{n}", AddPayload([{"role": "user", "content": f"fact {n} " + "x" * 4000}],
                                                    user_id=f"u{n % 5}"))
                for n in range(40)
            ]  # fmt: skip
            await queue.enqueue_many(events)
            held = int(await client.memory_usage(queue.keys.stream, samples=0))
            full = int((await client.info("memory"))["used_memory"])
            await client.config_set("maxmemory", str(full - held // 2))  # over it: Redis is full
            with pytest.raises(StorageError, match="maxmemory"):
                await queue.enqueue(PipelineEvent("one-more", AddPayload([{"role": "user", "content": "hi"}])))

            async with worker_over(settings, embedder) as worker:
                report = await asyncio.wait_for(worker.run(burst=True), timeout=60)
            assert report.processed == 40
            assert await client.xlen(queue.keys.stream) == 0
            assert (await queue.stats()).pending == 0
            assert held > 160_000 and await client.memory_usage(queue.keys.stream, samples=0) < 2_000  # freed
            record = await queue.status("ev-39")
            assert record is not None and record.status.value == "done"
        finally:
            await queue.close()
