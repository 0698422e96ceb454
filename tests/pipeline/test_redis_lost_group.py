"""A Redis that restarts with none of its data (no append-only file, no snapshot) loses the consumer
group with the stream. A worker that re-read its own pending entries after the outage (``XPENDING``)
met ``NOGROUP`` at every try and never recreated the group: it read nothing again, for ever, and its
heartbeat still said ``running``. Every step that meets ``NOGROUP`` recreates the group now, and a
worker that keeps failing to read says so in its heartbeat, and ``/health`` with it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from memoryd.cli.commands import app
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline import EventStatus, build_queue
from memoryd.pipeline.local_redis import LocalRedis
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import producer, stored, turn, wait_until, worker_over

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("on_unavailable", ["sync", "reject"])
async def test_a_worker_goes_on_after_redis_restarts_with_no_data(
    tmp_path: Path, own_redis: LocalRedis, embedder: USEEmbedder, on_unavailable: str
) -> None:
    settings = pipeline_settings(tmp_path / "m.db", own_redis.url, "lost:", on_unavailable=on_unavailable)
    async with producer(settings, embedder) as (pipeline, memory), worker_over(settings, embedder) as worker:
        running = asyncio.create_task(worker.run())
        try:
            first = await pipeline.submit_add(memory, turn("rp", 1), event_id="before-1")
            assert first.accepted

            async def done(event_id: str) -> bool:
                try:
                    return (await pipeline.event(event_id)).status is EventStatus.DONE
                except Exception:  # noqa: BLE001 - not there (yet), or Redis away
                    return False

            await wait_until(lambda: done("before-1"), what="the first add to be stored")
            own_redis.stop(kill=True)  # shutdown nosave: the stream, its group and every record are gone
            await asyncio.sleep(0.5)  # the worker meets the outage (a read fails), and waits
            own_redis.start()

            async def queued() -> bool:
                return (await pipeline.health())["writes"] == "queued"

            await wait_until(queued, what="Redis to take adds again")
            after = [await pipeline.submit_add(memory, turn("rp", n), event_id=f"after-{n}") for n in (2, 3)]
            assert all(s.accepted for s in after)
            for event_id in ("after-2", "after-3"):
                await wait_until(lambda e=event_id: done(e), timeout=20, what=f"{event_id} to be stored")

            health = await pipeline.health()
            assert "data_lost" in health, health  # what was queued before is reported lost, still
            assert [w["state"] for w in health["workers"]] == ["running"]
            again = await pipeline.submit_add(memory, turn("rp", 2), event_id="after-2")  # a client's retry
            assert again.duplicate
        finally:
            worker.stop()
            await asyncio.wait_for(running, timeout=30)
    counts = stored(settings.storage.path)
    assert set(counts) == {("rp", turn("rp", n).messages[0]["content"]) for n in (1, 2, 3)}
    assert set(counts.values()) == {1}  # each once
    assert worker.report.processed == 3


async def test_a_worker_that_cannot_read_says_so_on_health(
    tmp_path: Path, own_redis: LocalRedis, embedder: USEEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memoryd.pipeline import worker as worker_module

    monkeypatch.setattr(worker_module, "STALLED_AFTER_S", 0.5)  # 10 s in real use
    settings = pipeline_settings(tmp_path / "m.db", own_redis.url, "acl:", claim_idle_ms=900)  # beats every 0.3 s
    side = build_queue(settings.pipeline)
    client: Any = side.client  # type: ignore[attr-defined]
    async with producer(settings, embedder) as (pipeline, memory), worker_over(settings, embedder) as worker:
        running = asyncio.create_task(worker.run())
        try:

            async def states(*wanted: str) -> bool:
                return [w.get("state") for w in (await pipeline.health())["workers"]] == list(wanted)

            await wait_until(lambda: states("running"), what="the worker to run")
            # Redis answers, and refuses the worker's reads (an ACL changed under it): the heartbeat
            # still goes through, so /health must not go on saying "running".
            await client.execute_command("ACL", "SETUSER", "default", "-xreadgroup", "-xautoclaim", "-xpending")
            await wait_until(lambda: states("retrying"), what="the worker to say it cannot read")
            health = await pipeline.health()
            (shown,) = health["workers"]
            assert "no permissions" in shown["error"] and shown["failing_since"]
            assert health["status"] == "degraded" and "w1: retrying since" in health["error"], health
            # the probe a container runs counts it as /health does: not ok
            env = {"MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"), "MEMORYD_ASYNC_PIPELINE": "true",
                   "MEMORYD_PIPELINE__REDIS_URL": own_redis.url, "MEMORYD_PIPELINE__PREFIX": "acl:"}  # fmt: skip
            probe = await asyncio.to_thread(CliRunner().invoke, app, ["worker", "--check"], env=env)
            assert probe.exit_code == 1 and "w1: retrying since" in probe.stdout, probe.stdout

            await client.execute_command("ACL", "SETUSER", "default", "+@all")
            await wait_until(lambda: states("running"), what="the worker to read again")
            assert "error" not in (await pipeline.health())["workers"][0]
            event = await pipeline.submit_add(memory, turn("ana", 1), event_id="e-1")
            assert event.accepted
            await wait_until(lambda: _done(pipeline, "e-1"), what="the add to be stored")
        finally:
            await client.execute_command("ACL", "SETUSER", "default", "+@all")
            worker.stop()
            await asyncio.wait_for(running, timeout=30)
            await side.close()


async def _done(pipeline: Any, event_id: str) -> bool:
    return bool((await pipeline.event(event_id)).status is EventStatus.DONE)


async def _steps(queue: Any, step: str) -> list[str]:
    """One step of a worker's that needs the group; the stream ids it was given."""
    if step == "read new":
        return [d.stream_id for d in await queue.read("w1", 10, None)]
    if step == "re-read own, counted":
        return [d.stream_id for d in await queue.read("w1", 10, None, own=True)]
    if step == "re-read own after a failure":
        return [d.stream_id for d in await queue.read("w1", 10, None, own=True, recount=False)]
    if step == "reclaim":
        return [d.stream_id for d in await queue.claim_idle("w1", 0, 10)]
    if step == "extend leases":  # of an entry it holds the lock of (from before the loss)
        await queue.begin([("e-0", 1, "1-0", "")], "w1", 10_000)
        await queue.keepalive("w1", ["1-0"], ["e-0"], 10_000)
    elif step == "prune consumers":
        await queue.prune_consumers(0)
    elif step == "record outcomes":  # of an entry from before the loss: XACK of no group answers 0
        from memoryd.pipeline.base import Delivery, Outcome

        done = Outcome("done", Delivery("1-0", {}), event_id="e-0", result={"stored": 1}, attempts=1)
        await queue.finish([done], "w1", 60)
        assert (await queue.status("e-0")).status is EventStatus.DONE
    return []


@pytest.mark.parametrize(
    "step",
    ["read new", "re-read own, counted", "re-read own after a failure", "reclaim", "extend leases",
     "prune consumers", "record outcomes"],
)  # fmt: skip
async def test_every_step_that_needs_the_group_recreates_it(queue: Any, step: str) -> None:
    from memoryd.pipeline import PipelineEvent

    await queue.ensure_group()
    client, stream, group = queue.client, queue.keys.stream, queue.config.group
    await client.xgroup_destroy(stream, group)  # what a restart with nothing persisted leaves
    added = (await queue.enqueue(PipelineEvent("e-1", turn("rp", 1)))).stream_id
    given = await _steps(queue, step)  # no NOGROUP: the group is back (or, recording, not needed)
    if step != "record outcomes":
        assert [g["name"] for g in await client.xinfo_groups(stream)] == [group]
    # The event added after the loss is given once, whatever step recreated the group.
    given += [d.stream_id for d in await queue.read("w1", 10, None) + await queue.read("w1", 10, None)]
    assert given == [added]
    assert await client.xpending(stream, group) == {
        "pending": 1, "min": added, "max": added, "consumers": [{"name": "w1", "pending": 1}]
    }
