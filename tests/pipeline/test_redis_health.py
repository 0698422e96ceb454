"""The pipeline tells the truth about its Redis and its progress, against real redis-servers:
a Redis that evicts is refused, one that persists nothing is warned of, one that lost its data
is reported (health, log, an event's 404), and events that all fail make the pipeline degraded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory, Settings
from memoryd.cli.doctor import pipeline_check
from memoryd.embedders.openai import OpenAIEmbedder
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import ConfigError, NotFoundError
from memoryd.pipeline import Pipeline, build_queue
from memoryd.pipeline.local_redis import LocalRedis
from tests.fakes.llm_server import Reply, Script
from tests.pipeline.conftest import PipelineCli, doc, pipeline_settings
from tests.pipeline.helpers import producer, turn, wait_until, worker_over

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def redis_of(tmp_path: Path) -> Iterator[Callable[..., LocalRedis]]:
    """``redis_of(appendonly=..., options=...)``: a redis-server of its own, configured so."""
    servers: list[LocalRedis] = []

    def make(**config: Any) -> LocalRedis:
        server = LocalRedis(tmp_path / f"redis-{len(servers)}", **config)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop(kill=True)


def _settings(tmp_path: Path, redis: LocalRedis, **pipeline: Any) -> Settings:
    return pipeline_settings(tmp_path / "m.db", redis.url, "h:", **pipeline)


async def _heartbeat(settings: Settings, consumer: str = "w-alive") -> None:
    """A live worker, as far as /health can tell."""
    queue = build_queue(settings.pipeline)
    try:
        await queue.heartbeat(consumer, {"consumer": consumer, "state": "running"}, 60_000)
    finally:
        await queue.close()


@asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[Any]:
    queue = build_queue(settings.pipeline)
    try:
        yield queue.client  # type: ignore[attr-defined]
    finally:
        await queue.close()


@dataclass
class Unpersisted:
    """A redis-server that persists nothing (``appendonly no``), the settings on it, and the
    ``memoryd`` command on it."""

    redis: LocalRedis
    settings: Settings
    cli: PipelineCli


@pytest.fixture
def unpersisted(
    tmp_path: Path, redis_of: Callable[..., LocalRedis], pipeline_cli: Callable[..., PipelineCli]
) -> Unpersisted:
    redis = redis_of(appendonly=False)
    cli = pipeline_cli(PIPELINE__REDIS_URL=redis.url, PIPELINE__PREFIX="h:")
    return Unpersisted(redis, _settings(tmp_path, redis), cli)


@asynccontextmanager
async def _served(settings: Settings, embedder: USEEmbedder) -> AsyncIterator[tuple[Pipeline, AsyncMemory]]:
    """The server's pipeline and store, with a live worker as far as /health can tell."""
    async with producer(settings, embedder) as (pipeline, memory):
        await _heartbeat(settings)
        yield pipeline, memory


# -- eviction -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru"])
async def test_a_redis_that_evicts_is_refused_by_the_server_the_worker_and_doctor(
    tmp_path: Path, redis_of: Callable[..., LocalRedis], pipeline_cli: Callable[..., PipelineCli], policy: str
) -> None:
    # It would drop events already answered 202 "queued" (356 of 400 in the reviewer's run).
    redis = redis_of(options={"maxmemory": "3mb", "maxmemory-policy": policy})
    settings = _settings(tmp_path, redis)
    pipeline = Pipeline(settings.pipeline, settings.limits)
    try:
        with pytest.raises(ConfigError) as refused:
            await pipeline.start()
    finally:
        await pipeline.close()
    assert f"maxmemory-policy {policy}" in refused.value.message
    assert "maxmemory-policy noeviction" in refused.value.message

    cli = pipeline_cli(PIPELINE__REDIS_URL=redis.url, PIPELINE__BLOCK_MS="100")
    worker = await asyncio.to_thread(cli.run, "worker", "--burst")
    assert worker.exit_code == 2 and "maxmemory-policy noeviction" in worker.stderr
    assert "worker consuming" not in worker.stdout + worker.stderr  # refused before it said it runs

    check = await asyncio.to_thread(pipeline_check, settings)
    assert check.status == "fail" and "noeviction" in (check.fix or "") and policy in check.detail


async def test_a_redis_that_starts_evicting_later_makes_health_degraded_and_is_logged_once(
    tmp_path: Path, redis_of: Callable[..., LocalRedis], embedder: USEEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    redis = redis_of()
    settings = _settings(tmp_path, redis)
    async with _served(settings, embedder) as (pipeline, _):
        assert (await pipeline.health())["status"] == "ok"
        async with _client(settings) as client:
            await client.config_set("maxmemory", "100mb")
            await client.config_set("maxmemory-policy", "allkeys-lru")
        with caplog.at_level(logging.ERROR, logger="memoryd.pipeline"):
            first, second = await pipeline.health(), await pipeline.health()
    assert first["status"] == second["status"] == "degraded"
    assert "maxmemory-policy allkeys-lru" in first["error"] and "noeviction" in first["error"]
    assert len([r for r in caplog.records if "evicts keys" in r.getMessage()]) == 1


# -- persistence -------------------------------------------------------------------------------------------
async def test_a_redis_without_persistence_is_a_warning(
    unpersisted: Unpersisted, embedder: USEEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    settings = unpersisted.settings
    with caplog.at_level(logging.WARNING, logger="memoryd.pipeline"):
        async with _served(settings, embedder) as (pipeline, _):
            health = await pipeline.health()
    assert health["status"] == "ok"  # it works; it would not survive a restart
    assert any("appendonly yes" in w and "no persistence" in w for w in health["warnings"])
    assert [r for r in caplog.records if "no persistence" in r.getMessage()]  # said at start

    check = await asyncio.to_thread(pipeline_check, settings)
    assert check.status == "warn" and "appendonly yes" in check.detail

    report = await asyncio.to_thread(unpersisted.cli.run, "worker", "--check", "--json")
    assert report.exit_code == 0 and any("no persistence" in w for w in doc(report)["warnings"])


# -- lost data ------------------------------------------------------------------------------------------
async def test_a_redis_that_restarts_empty_is_reported_until_acknowledged(
    unpersisted: Unpersisted, embedder: USEEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    redis, settings = unpersisted.redis, unpersisted.settings
    async with _served(settings, embedder) as (pipeline, memory):
        queued = await pipeline.submit_add(memory, turn("ana", 1), event_id="bees-1")
        assert queued.accepted and (await pipeline.health())["status"] == "ok"
        redis.stop()  # nothing persisted: it comes back empty
        redis.start()
        await _heartbeat(settings)
        with caplog.at_level(logging.ERROR, logger="memoryd.pipeline"):
            first, second = await pipeline.health(), await pipeline.health()
        assert first["status"] == second["status"] == "degraded"
        assert "Redis lost its data" in first["error"] and "events queued before" in first["error"]
        assert first["data_lost"]["detected_by"].startswith("the server")
        errors = [r for r in caplog.records if "Redis lost its data" in r.getMessage()]
        assert len(errors) == 1 and errors[0].levelno == logging.ERROR  # once, not at every probe

        with pytest.raises(NotFoundError) as missing:
            await pipeline.event("bees-1")
        assert "Redis lost its data" in missing.value.message and "bees-1" in missing.value.message

        check = await asyncio.to_thread(unpersisted.cli.run, "worker", "--check", "--json")
        assert check.exit_code == 1 and "Redis lost its data" in " ".join(doc(check)["problems"])

        async with _client(settings) as client:
            assert await client.get("h:chat_log:marker")  # set again, so the next loss is seen too
            await client.delete("h:chat_log:data_lost")  # the operator acknowledges it
        assert (await pipeline.health())["status"] == "ok"
        with pytest.raises(NotFoundError) as unknown:
            await pipeline.event("bees-1")
        assert "Redis lost its data" not in unknown.value.message


async def test_a_loss_a_worker_finds_is_shown_by_a_server_started_after_it(
    tmp_path: Path, redis_of: Callable[..., LocalRedis], caplog: pytest.LogCaptureFixture
) -> None:
    from memoryd.pipeline.redis_health import RedisWatch, keep_watching  # what `memoryd worker` runs

    redis = redis_of(appendonly=False)
    settings = _settings(tmp_path, redis, claim_idle_ms=400)  # it looks every 0.1 s
    queue = build_queue(settings.pipeline, blocking=True)
    watch = RedisWatch("worker w-9")
    watching = asyncio.create_task(keep_watching(queue, settings.pipeline, watch))
    try:
        async with _client(settings) as client:

            async def marked() -> bool:
                return bool(await client.get("h:chat_log:marker")) and watch.marker is not None

            await wait_until(marked, what="the worker to set the marker")
        with caplog.at_level(logging.ERROR, logger="memoryd.pipeline"):
            redis.stop()  # Redis restarts empty under the worker
            redis.start()
            async with _client(settings) as client:

                async def recorded() -> bool:
                    return bool(await client.hgetall("h:chat_log:data_lost"))

                await wait_until(recorded, what="the worker to find the loss")
            await asyncio.sleep(0.3)  # it keeps looking, and says it once
    finally:
        watching.cancel()
        await queue.close()
    assert len([r for r in caplog.records if "Redis lost its data" in r.getMessage()]) == 1
    pipeline = Pipeline(settings.pipeline, settings.limits)
    await pipeline.start()
    try:
        health = await pipeline.health()
    finally:
        await pipeline.close()
    assert health["status"] == "degraded" and "Redis lost its data" in health["error"]
    assert health["data_lost"]["detected_by"] == "worker w-9"


# -- progress ---------------------------------------------------------------------------------------------
async def test_events_that_all_fail_make_the_pipeline_degraded_until_one_is_processed(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, fake_llm: Script,
    pipeline_cli: Callable[..., PipelineCli],
) -> None:
    embedder = {"provider": "openai", "model": "emb", "base_url": fake_llm.base_url, "dim": 16}
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, {"embedder": embedder},
                                 max_attempts=2)  # fmt: skip
    remote = OpenAIEmbedder.from_config(settings.embedder)
    async with producer(settings, remote) as (pipeline, memory), worker_over(settings, remote, "w1") as worker:
        run = asyncio.create_task(worker.run())
        try:
            await wait_until(lambda: _alive(pipeline), what="the worker's heartbeat")
            assert (await pipeline.health())["status"] == "ok"
            fake_llm.default(Reply(status=503, text=None, message="the embedding service is down"))
            for n in range(6):
                await pipeline.submit_add(memory, turn("ana", n))

            async def all_dead() -> bool:
                return (await pipeline.health())["dlq_size"] == 6

            await wait_until(all_dead, what="every event to be dead-lettered")
            await asyncio.sleep(0.6)  # half the window (max(claim_idle_ms, 3 x the longest retry delay))
            health = await pipeline.health()
            assert health["status"] == "degraded" and health["counters"]["processed"] == 0
            assert "dead-letter" in health["error"] and "none was processed" in health["error"]
            cli = pipeline_cli(PIPELINE__REDIS_URL=redis_server.url, PIPELINE__PREFIX=prefix,
                               PIPELINE__CLAIM_IDLE_MS="1000", PIPELINE__MAX_ATTEMPTS="2")  # as the server's
            check = await asyncio.to_thread(cli.run, "worker", "--check", "--json")
            assert check.exit_code == 1 and doc(check)["alive"] is True
            assert "none was processed" in " ".join(doc(check)["problems"])

            fake_llm.default(Reply())  # the service is back; a new add is processed
            await pipeline.submit_add(memory, turn("bob", 1))

            async def processed() -> bool:
                return (await pipeline.health())["counters"]["processed"] == 1

            await wait_until(processed, what="the new add to be processed")
            assert (await pipeline.health())["status"] == "ok"
        finally:
            worker.stop()
            await asyncio.wait_for(run, timeout=30)


async def _alive(pipeline: Pipeline) -> bool:
    return bool((await pipeline.health())["workers"])


async def test_a_full_noeviction_redis_is_still_inspected(
    tmp_path: Path, redis_of: Callable[..., LocalRedis], embedder: USEEmbedder
) -> None:
    # At maxmemory, Redis refuses the marker and the progress sample; the rest is still reported.
    redis = redis_of(appendonly=False)
    settings = _settings(tmp_path, redis)
    async with _served(settings, embedder) as (pipeline, _), _client(settings) as client:
        used = int((await client.info("memory"))["used_memory"])
        await client.config_set("maxmemory", str(used // 2))  # over it: full
        health = await pipeline.health()
        await client.config_set("maxmemory", "0")
    assert not any("could not be read" in w for w in health["warnings"])
    assert any("no persistence" in w for w in health["warnings"])
