"""A worker told to stop (SIGTERM) drains: it finishes and records the batch in hand. When Redis is
gone meanwhile it cannot record it: the batch stays pending (redelivered to another worker later), and
the stop is no clean one. Before, the run returned its report as after a clean drain, and ``memoryd
worker`` exited 0, so a supervisor (``systemctl stop``, a rolling deploy) saw a drain that succeeded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from memoryd.embedders.openai import OpenAIEmbedder
from memoryd.errors import StorageError
from memoryd.pipeline.local_redis import LocalRedis
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import producer, turn, wait_until, worker_over

pytestmark = pytest.mark.timeout(120)


async def test_a_drain_that_cannot_record_its_batch_is_an_error_not_a_clean_stop(
    tmp_path: Path, own_redis: LocalRedis, fake_llm: Script, fake_llm_server: FakeLLMServer
) -> None:
    embedder = {"provider": "openai", "model": "emb", "base_url": fake_llm.base_url, "dim": 16}
    settings = pipeline_settings(tmp_path / "m.db", own_redis.url, "drain:", {"embedder": embedder})
    remote = OpenAIEmbedder.from_config(settings.embedder)
    try:
        async with producer(settings, remote) as (pipeline, memory):
            queued = await pipeline.submit_add(memory, turn("ana", 1), event_id="chat-1")
        assert queued.status.value == "queued"
        fake_llm.hang(3)  # the batch's embedding: the worker is in the middle of its batch meanwhile
        async with worker_over(settings, remote) as worker:
            running = asyncio.create_task(worker.run())

            async def embedding() -> bool:
                assert not running.done(), running.result()
                return len(fake_llm.requests) >= 1

            await wait_until(embedding, timeout=30, what="the worker to be embedding its batch")
            worker.stop()  # SIGTERM: finish the batch in hand, then leave
            own_redis.stop(kill=True)  # and Redis goes: the batch's outcome cannot be recorded
            with pytest.raises(StorageError, match="not recorded") as failed:
                await asyncio.wait_for(running, timeout=60)
        assert "redelivered" in failed.value.message and "(s)" not in failed.value.message, failed.value.message
    finally:
        fake_llm_server.reset()
        remote.close()
