"""Workers killed with SIGKILL never leave the consumer group (55 consumers and no live worker in
the reviewer's run, reported by /health and ``worker --check`` as ``consumers``). Dead ones are
removed once they hold nothing (what they held is reclaimed first), never one holding pending
entries, and live workers are reported apart from the group's consumers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline import AddPayload, Pipeline, PipelineEvent, build_queue
from memoryd.pipeline.local_redis import LocalRedis
from memoryd.pipeline.redis_health import RedisWatch, keep_watching
from tests.pipeline.conftest import PipelineCli, doc, pipeline_settings
from tests.pipeline.helpers import wait_until, worker_over

pytestmark = pytest.mark.timeout(120)


async def _names(client: Any, stream: str, group: str) -> dict[str, int]:
    return {m["name"]: int(m["pending"]) for m in await client.xinfo_consumers(stream, group)}


async def test_dead_consumers_are_removed_once_they_hold_nothing_and_reported_apart_from_live_workers(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder,
    pipeline_cli: Callable[..., PipelineCli],
) -> None:  # fmt: skip
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, claim_idle_ms=400)
    group = settings.pipeline.group
    queue = build_queue(settings.pipeline)
    client: Any = queue.client  # type: ignore[attr-defined]
    stream = queue.keys.stream
    try:
        await queue.ensure_group()
        for n in range(2):
            payload = AddPayload([{"role": "user", "content": f"ana likes tea number {n}"}], user_id="ana")
            await queue.enqueue(PipelineEvent(f"held-{n}", payload))
        await client.xreadgroup(group, "killed-busy", {stream: ">"}, count=2)  # SIGKILLed holding two
        for n in range(5):
            await client.xgroup_createconsumer(stream, group, f"killed-{n}")  # SIGKILLed holding none
        await client.xgroup_createconsumer(stream, group, "live-1")
        await queue.heartbeat("live-1", {"consumer": "live-1", "group": group, "state": "running"}, 60_000)
        await asyncio.sleep(0.5)  # past claim_idle_ms: every dead one is idle long enough

        pipeline = Pipeline(settings.pipeline, settings.limits)
        try:
            health = await pipeline.health()
        finally:
            await pipeline.close()
        assert (health["workers_alive"], health["group_consumers"], health["dead_consumers"]) == (1, 7, 6)
        assert health["consumers"] == 7  # its earlier name: probes reading it keep working
        check = await asyncio.to_thread(pipeline_cli().run, "worker", "--check", "--json")
        assert (doc(check)["workers_alive"], doc(check)["group_consumers"], doc(check)["dead_consumers"]) == (
            1, 7, 6,
        )  # fmt: skip

        watch = RedisWatch("worker w-watch")  # what every `memoryd worker` runs beside its loop
        watching = asyncio.create_task(keep_watching(queue, settings.pipeline, watch))
        try:

            async def pruned() -> bool:
                return await _names(client, stream, group) == {"killed-busy": 2, "live-1": 0}

            await wait_until(pruned, timeout=10, what="the dead consumers holding nothing to go")
        finally:
            watching.cancel()

        # A worker reclaims what the busy one held; as it leaves, that one holds nothing and goes too.
        async with worker_over(settings, embedder, "w-burst") as worker:
            report = await asyncio.wait_for(worker.run(burst=True), timeout=60)
        assert report.processed == 2 and report.reclaimed == 2
        assert await _names(client, stream, group) == {"live-1": 0}  # the live one stays
    finally:
        await queue.close()
