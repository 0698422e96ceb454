"""Redis restarting mid-run, and Redis down: adds are never accepted and dropped."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from memoryd.embedders.use import USEEmbedder
from memoryd.errors import BackendUnavailableError, StorageError
from memoryd.pipeline import EventStatus, PipelineEvent
from memoryd.pipeline.local_redis import LocalRedis, free_port
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import producer, stored, turn, wait_until, worker_over


async def test_redis_restarting_mid_run_loses_nothing(
    tmp_path: Path, redis_server: LocalRedis, embedder: USEEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="memoryd.pipeline")
    redis = LocalRedis(tmp_path / "redis")  # its own server, which it stops (redis_server: installed)
    redis.start()
    settings = pipeline_settings(tmp_path / "m.db", redis.url, "restart:", batch_size=4)
    try:
        async with (
            producer(settings, embedder) as (pipeline, memory),
            worker_over(settings, embedder) as worker,
        ):
            running = asyncio.create_task(worker.run())
            before = [await pipeline.submit_add(memory, turn(f"u{n % 3}", n, 5)) for n in range(40)]

            async def started() -> bool:
                return (await pipeline.queue.stats()).counters["processed"] >= 5

            await wait_until(started, what="processing to start")
            redis.stop()  # SIGTERM: Redis writes its append-only file and exits, events still queued
            assert not running.done() and worker.report.processed < 40

            during = [await pipeline.submit_add(memory, turn("down", n)) for n in range(5)]
            assert {(s.pipeline, s.status) for s in during} == {("bypassed", EventStatus.DONE)}
            assert all(s.results is not None and s.results[0].event.value == "ADD" for s in during)
            assert "processed synchronously" in (during[0].reason or "")
            health = await pipeline.health()
            assert (health["status"], health["writes"]) == ("degraded", "synchronous") and health["error"]
            with pytest.raises(StorageError):
                await pipeline.event(before[0].event_id)

            redis.start()  # same port, same files

            async def reachable() -> bool:
                return (await pipeline.health())["writes"] == "queued"

            await wait_until(reachable, what="Redis to answer again")
            after = [await pipeline.submit_add(memory, turn(f"u{n % 3}", 100 + n, 5)) for n in range(10)]
            assert all(s.accepted for s in after)

            async def all_done() -> bool:
                records = [await pipeline.event(s.event_id) for s in before + after]
                return all(r.status is EventStatus.DONE for r in records)

            await wait_until(all_done, timeout=60, what="every queued event to be done")
            assert (await pipeline.health())["status"] == "ok"  # a worker is alive again
            said = [r.getMessage() for r in caplog.records if r.name.startswith("memoryd.pipeline")]
            failed = next(i for i, m in enumerate(said) if m.startswith("worker") and "retrying" in m)  # it failed…
            assert any("Redis answers again" in m for m in said[failed:]), said  # …and that it is over
            worker.stop()
            await asyncio.wait_for(running, timeout=30)
            assert pipeline.submissions == {"queued": 50, "duplicate": 0, "bypassed": 5, "rejected": 0}
    finally:
        redis.stop()
    counts = stored(settings.storage.path)
    assert len(counts) == 40 * 5 + 5 + 10 * 5 and set(counts.values()) == {1}


async def test_with_redis_unreachable_adds_are_refused_when_so_configured(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    settings = pipeline_settings(tmp_path / "m.db", nowhere, "x:", on_unavailable="reject")
    async with producer(settings, embedder) as (pipeline, memory):
        with pytest.raises(BackendUnavailableError) as caught:
            await pipeline.submit_add(memory, turn("ana", 1), event_id="e-1")
        assert caught.value.status_code == 503 and "'reject'" in caught.value.message
        assert caught.value.details == {"event_id": "e-1"}
        health = await pipeline.health()
        assert (health["status"], health["writes"]) == ("degraded", "rejected")
        assert pipeline.submissions["rejected"] == 1
    assert not stored(settings.storage.path)


async def test_an_add_processed_synchronously_and_also_queued_is_stored_once(
    tmp_path: Path, redis_server: LocalRedis, embedder: USEEmbedder
) -> None:
    # Redis took the event but answered too late: the producer processed it synchronously, and a
    # worker gets the queued copy later, after the user deleted what it stored.
    dead = pipeline_settings(tmp_path / "m.db", f"redis://127.0.0.1:{free_port()}/0", "late:")
    live = pipeline_settings(tmp_path / "m.db", redis_server.url, "late:")
    payload = turn("ana", 1)
    async with producer(dead, embedder) as (pipeline, memory):
        done = await pipeline.submit_add(memory, payload, event_id="late-1")
        assert (done.pipeline, done.status) == ("bypassed", EventStatus.DONE)
        again = await pipeline.submit_add(memory, payload, event_id="late-1")  # the client's retry
        assert again.duplicate and again.status is EventStatus.DONE
        stored_id = done.results[0].id if done.results is not None else None
        assert stored_id is not None
        await memory.delete(stored_id, user_id="ana")
        gone = await pipeline.submit_add(memory, payload, event_id="late-1")  # a retry after the delete
        assert gone.duplicate and gone.status is EventStatus.DONE and not stored(dead.storage.path)
    async with producer(live, embedder) as (pipeline, memory):
        assert (await pipeline.queue.enqueue(PipelineEvent("late-1", payload))).created
        async with worker_over(live, embedder) as worker:
            report = await asyncio.wait_for(worker.run(burst=True), timeout=60)
        assert report.processed == 1
        record = await pipeline.event("late-1")
        assert record.status is EventStatus.DONE and "applied to the store already" in str(record.result)
    assert not stored(live.storage.path)  # the deleted memory did not come back


async def test_a_burst_worker_gives_up_on_a_redis_that_is_down(
    tmp_path: Path, embedder: USEEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memoryd.pipeline import worker as worker_module

    monkeypatch.setattr(worker_module, "BURST_CONNECT_S", 1.0)  # 30 s in real use
    down = pipeline_settings(tmp_path / "m.db", f"redis://127.0.0.1:{free_port()}/0", "gone:")
    async with worker_over(down, embedder) as worker:
        with pytest.raises(StorageError, match="gave up after 1 s"):
            await asyncio.wait_for(worker.run(burst=True), timeout=20)  # not forever, as a cron job would pile up


async def test_another_add_under_an_id_the_synchronous_path_applied_is_a_conflict(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    from memoryd.errors import ConflictError

    dead = pipeline_settings(tmp_path / "m.db", f"redis://127.0.0.1:{free_port()}/0", "sync:")
    async with producer(dead, embedder) as (pipeline, memory):
        first = await pipeline.submit_add(memory, turn("ana", 1), event_id="ord-7")
        assert first.pipeline == "bypassed" and first.results is not None
        for other in (turn("ana", 2), turn("bob", 1)):  # another body; another user
            with pytest.raises(ConflictError, match="another add"):
                await pipeline.submit_add(memory, other, event_id="ord-7")
    assert set(stored(dead.storage.path)) == {("ana", "ana says fact number 1.0 about the hills")}


async def test_a_burst_worker_gives_up_on_a_redis_that_goes_down_mid_run(
    tmp_path: Path, redis_server: LocalRedis, embedder: USEEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memoryd.pipeline import worker as worker_module

    monkeypatch.setattr(worker_module, "BURST_CONNECT_S", 1.0)  # 30 s in real use
    redis = LocalRedis(tmp_path / "redis")
    redis.start()
    settings = pipeline_settings(tmp_path / "m.db", redis.url, "mid:", claim_idle_ms=600_000)
    try:
        async with producer(settings, embedder) as (pipeline, memory), worker_over(settings, embedder) as worker:
            await pipeline.submit_add(memory, turn("ana", 1), event_id="held-1")
            queue = pipeline.queue
            await queue.client.xreadgroup(settings.pipeline.group, "other", {queue.keys.stream: ">"}, count=1)
            running = asyncio.create_task(worker.run(burst=True))  # waits for the event another holds
            await asyncio.sleep(0.5)
            redis.stop()
            with pytest.raises(StorageError, match="gave up after 1 s"):
                await asyncio.wait_for(running, timeout=30)
    finally:
        redis.stop()
