"""A full Redis (``noeviction`` at ``maxmemory``) answers every read and refuses every write: adds
take ``on_unavailable``'s path, and /health, /metrics and ``worker --check`` must say so (they said
ok, "writes": "queued", redis_up 1 and exit 0, because a successful read marked Redis up again),
until a write is taken again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory, Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import QueueUnavailableError
from memoryd.pipeline import Pipeline, build_queue
from memoryd.pipeline.local_redis import LocalRedis
from memoryd.pipeline.metrics import MetricsText
from tests.pipeline.conftest import PipelineCli, doc, pipeline_settings
from tests.pipeline.helpers import producer, turn

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[LocalRedis]:
    with LocalRedis(tmp_path / "redis") as server:  # maxmemory-policy noeviction: the default
        yield server


@asynccontextmanager
async def _served(settings: Settings, embedder: USEEmbedder) -> AsyncIterator[tuple[Pipeline, AsyncMemory, Any]]:
    """The server's pipeline and store, a live worker as far as /health can tell, and a client."""
    queue = build_queue(settings.pipeline)
    try:
        await queue.heartbeat("w-alive", {"consumer": "w-alive", "state": "running"}, 60_000)
        async with producer(settings, embedder) as (pipeline, memory):
            yield pipeline, memory, queue.client  # type: ignore[attr-defined]
    finally:
        await queue.close()


async def _fill(client: Any) -> None:
    """Set maxmemory below what Redis uses: it is full, and refuses every write (OOM)."""
    used = int((await client.info("memory"))["used_memory"])
    await client.config_set("maxmemory", str(used // 2))


async def _metrics(pipeline: Pipeline) -> str:
    out = MetricsText()
    await pipeline.metrics(out)
    return out.render()


async def test_a_full_redis_is_reported_by_health_metrics_and_check_until_a_write_is_taken(
    tmp_path: Path, redis: LocalRedis, embedder: USEEmbedder, pipeline_cli: Callable[..., PipelineCli],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    settings = pipeline_settings(tmp_path / "m.db", redis.url, "full:")
    cli = pipeline_cli(PIPELINE__REDIS_URL=redis.url, PIPELINE__PREFIX="full:")
    async with _served(settings, embedder) as (pipeline, memory, client):
        assert (await pipeline.health())[("writes")] == "queued"
        await _fill(client)
        with caplog.at_level(logging.INFO, logger="memoryd.pipeline"):
            bypassed = await pipeline.submit_add(memory, turn("ana", 1))
            assert bypassed.pipeline == "bypassed"  # the queue refused it: processed synchronously
            health, again = await pipeline.health(), await pipeline.health()
            metrics = await _metrics(pipeline)
        assert (health["status"], health["writes"]) == ("degraded", "synchronous")
        assert again["writes"] == "synchronous"  # a read succeeding says nothing of writes
        assert "is full" in health["error"] and "OOM" in health["error"] and "maxmemory" in health["error"]
        assert "memoryd_pipeline_writes_queued 0" in metrics and "memoryd_pipeline_redis_full 1" in metrics
        assert "memoryd_pipeline_redis_up 1" in metrics  # it answers: true, and not the whole story
        said = [r.getMessage() for r in caplog.records]
        assert not [m for m in said if "adds are queued" in m]  # not while every add is refused
        assert len([m for m in said if "is full" in m]) == 1  # one ERROR, not one per probe

        check = await asyncio.to_thread(cli.run, "worker", "--check", "--json")
        assert check.exit_code == 1 and doc(check)["alive"] is True
        assert any("is full" in p and "maxmemory" in p for p in doc(check)["problems"])
        said_check = await asyncio.to_thread(cli.run, "worker", "--check")
        assert said_check.exit_code == 1 and "is full" in said_check.stdout

        reject = Pipeline(settings.pipeline.model_copy(update={"on_unavailable": "reject"}), settings.limits)
        await reject.start()
        try:
            with pytest.raises(QueueUnavailableError):
                await reject.submit_add(memory, turn("ana", 2))
            refused = await reject.health()
        finally:
            await reject.close()
        assert (refused["status"], refused["writes"]) == ("degraded", "rejected") and "is full" in refused["error"]

        await client.config_set("maxmemory", "0")  # room again: the next write is taken
        with caplog.at_level(logging.INFO, logger="memoryd.pipeline"):
            caplog.clear()
            back = await pipeline.health()
            metrics = await _metrics(pipeline)
        assert (back["status"], back["writes"]) == ("ok", "queued")
        assert "memoryd_pipeline_writes_queued 1" in metrics and "memoryd_pipeline_redis_full 0" in metrics
        assert [r for r in caplog.records if "takes writes again; adds are queued" in r.getMessage()]
        assert (await pipeline.submit_add(memory, turn("ana", 3))).accepted
        check = await asyncio.to_thread(cli.run, "worker", "--check", "--json")
        assert check.exit_code == 0, doc(check)["problems"]
