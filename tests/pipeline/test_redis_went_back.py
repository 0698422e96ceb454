"""A Redis that comes back with an older copy of its data (appendonly no and an older RDB, a restore,
a failover to a replica that lagged) keeps the marker, so only the missing-marker check (a Redis
that came back empty) saw nothing: acknowledged events vanished with no ``data_lost``, a plain 404
and counters going backwards. Each process remembers how far Redis had come, and records the loss
when Redis shows less."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memoryd.embedders.use import USEEmbedder
from memoryd.errors import NotFoundError
from memoryd.pipeline import Pipeline, build_queue
from memoryd.pipeline.local_redis import LocalRedis
from memoryd.pipeline.redis_health import RedisWatch, keep_watching
from tests.pipeline.conftest import PipelineCli, doc, pipeline_settings
from tests.pipeline.helpers import producer, turn, wait_until

pytestmark = pytest.mark.timeout(120)


async def _heartbeat(queue: Any) -> None:
    await queue.heartbeat("w-alive", {"consumer": "w-alive", "state": "running"}, 60_000)


async def test_a_redis_back_from_an_older_snapshot_is_a_recorded_loss(
    tmp_path: Path, own_redis: LocalRedis, embedder: USEEmbedder, pipeline_cli: Callable[..., PipelineCli],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    settings = pipeline_settings(tmp_path / "m.db", own_redis.url, "old:")
    async with producer(settings, embedder) as (pipeline, memory):
        side = build_queue(settings.pipeline)
        try:
            await _heartbeat(side)
            kept = [await pipeline.submit_add(memory, turn("ana", n), event_id=f"kept-{n}") for n in range(2)]
            assert (await pipeline.health())["status"] == "ok"
            await side.client.save()  # type: ignore[attr-defined]  # the snapshot Redis comes back with
            gone = [await pipeline.submit_add(memory, turn("bob", n), event_id=f"gone-{n}") for n in range(3)]
            assert all(s.accepted for s in kept + gone)  # 202: queued, as far as every client knows
        finally:
            await side.close()
        own_redis.stop(kill=True)  # nothing since the snapshot was persisted
        own_redis.start()
        # New adds right away leap the stream's ids past the lost ones: the count still tells.
        after = await pipeline.submit_add(memory, turn("cy", 1), event_id="after-1")
        assert after.accepted
        side = build_queue(settings.pipeline)
        try:
            await _heartbeat(side)
            assert await side.status("gone-0") is None and await side.status("kept-0") is not None
        finally:
            await side.close()

        with caplog.at_level(logging.ERROR, logger="memoryd.pipeline"):
            first, second = await pipeline.health(), await pipeline.health()
        assert first["status"] == second["status"] == "degraded"
        assert "Redis lost its data back to an older copy" in first["error"], first
        assert "data_lost" in first and "went_back" in first["data_lost"]
        assert first["data_lost"]["detected_by"].startswith("the server")
        assert len([r for r in caplog.records if "Redis lost its data" in r.getMessage()]) == 1

        with pytest.raises(NotFoundError) as missing:
            await pipeline.event("gone-1")
        assert "Redis lost its data" in missing.value.message and "gone-1" in missing.value.message

        cli = pipeline_cli(PIPELINE__REDIS_URL=own_redis.url, PIPELINE__PREFIX="old:")
        check = await asyncio.to_thread(cli.run, "worker", "--check", "--json")
        assert check.exit_code == 1 and "Redis lost its data" in " ".join(doc(check)["problems"])

        side = build_queue(settings.pipeline)
        try:
            await side.client.delete("old:chat_log:data_lost")  # type: ignore[attr-defined]  # acknowledged
        finally:
            await side.close()
        assert (await pipeline.health())["status"] == "ok"  # recorded once: not found again


async def test_a_worker_finds_counters_gone_back_and_another_process_does_not_record_it_twice(
    tmp_path: Path, own_redis: LocalRedis, caplog: pytest.LogCaptureFixture
) -> None:
    # No add after the snapshot, only outcomes: the worker's counters go back (processed 5 -> 2).
    settings = pipeline_settings(tmp_path / "m.db", own_redis.url, "cnt:", claim_idle_ms=400)  # looks every 0.1 s
    queue = build_queue(settings.pipeline, blocking=True)
    client: Any = queue.client  # type: ignore[attr-defined]
    worker, server = RedisWatch("worker w-7"), Pipeline(settings.pipeline, settings.limits)
    await server.start()  # sets the marker
    await client.hset("cnt:chat_log:stats", mapping={"processed": 2})
    await client.save()
    await client.hset("cnt:chat_log:stats", mapping={"processed": 5})
    watching = asyncio.create_task(keep_watching(queue, settings.pipeline, worker))
    try:
        await wait_until(lambda: _sampled(client, 5), what="the worker to look")
        await server.health()  # the server has seen processed 5 as well
        with caplog.at_level(logging.ERROR, logger="memoryd.pipeline"):
            own_redis.stop(kill=True)
            own_redis.start()
            fresh = build_queue(settings.pipeline)
            try:

                async def recorded() -> bool:
                    return bool(await fresh.client.hgetall("cnt:chat_log:data_lost"))  # type: ignore[attr-defined]

                await wait_until(recorded, what="the worker to find the loss")
                lost = await fresh.client.hgetall("cnt:chat_log:data_lost")  # type: ignore[attr-defined]
            finally:
                await fresh.close()
            health = await server.health()
    finally:
        watching.cancel()
        await queue.close()
        await server.close()
    assert lost["detected_by"] == "worker w-7" and "'processed' went back from 5 to 2" in lost["went_back"]
    assert health["data_lost"]["detected_by"] == "worker w-7"  # the server's look did not record it again
    assert "Redis lost its data back to an older copy" in health["error"]


async def _sampled(client: Any, processed: int) -> bool:
    """Whether a look sampled the counters with ``processed`` (samples: ``[ms, processed, ...]``)."""
    return any(json.loads(m)[1] == processed for m in await client.zrange("cnt:chat_log:progress", 0, -1))
