"""``memoryd worker`` as a real process: SIGKILL mid-batch loses nothing and stores nothing twice;
SIGTERM drains the batch in hand and leaves the group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline import EventQueue, EventStatus
from memoryd.pipeline.local_redis import LocalRedis
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import burst, producer, stored, turn, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 120
MESSAGES = 10  # per event: batches of 16 events take long enough to be caught in the middle


def _spawn_worker(settings: Settings, consumer: str) -> subprocess.Popen[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")},
        "PYTHONPATH": str(ROOT),
        "MEMORYD_STORAGE__PATH": str(settings.storage.path),
        "MEMORYD_STORAGE__SYNCHRONOUS": "NORMAL",
        "MEMORYD_PIPELINE__REDIS_URL": settings.pipeline.redis_url.get_secret_value(),
        "MEMORYD_PIPELINE__PREFIX": settings.pipeline.prefix,
        "MEMORYD_PIPELINE__CLAIM_IDLE_MS": str(settings.pipeline.claim_idle_ms),
        "MEMORYD_PIPELINE__BLOCK_MS": "100",
        "MEMORYD_SERVER__LOG_LEVEL": "info",
        "MEMORYD_ASYNC_PIPELINE": "true",
    }
    command = [sys.executable, "-m", "memoryd", "worker", "--consumer", consumer, "--batch", "16", "--json"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


async def _holding(queue: EventQueue, settings: Settings, consumer: str) -> list[str]:
    """Stream ids the consumer has been given and not yet acknowledged."""
    rows = await queue.client.xpending_range(  # type: ignore[attr-defined]
        queue.keys.stream, settings.pipeline.group, "-", "+", 1000, consumername=consumer
    )
    return [row["message_id"] for row in rows]


async def _enqueue_all(settings: Settings, embedder: USEEmbedder) -> list[str]:
    async with producer(settings, embedder) as (pipeline, memory):
        return [
            (await pipeline.submit_add(memory, turn(f"user{n % 4}", n, MESSAGES))).event_id
            for n in range(EVENTS)
        ]


async def _all_done(settings: Settings, embedder: USEEmbedder, ids: list[str]) -> dict[str, int]:
    async with producer(settings, embedder) as (pipeline, _):
        records = [await pipeline.event(i) for i in ids]
    assert {r.status for r in records} == {EventStatus.DONE}
    return {r.event_id: r.attempts for r in records}


async def test_a_worker_killed_mid_batch_loses_nothing_and_another_finishes_its_events(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder, queue: EventQueue
) -> None:
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, claim_idle_ms=500)
    ids = await _enqueue_all(settings, embedder)
    victim = _spawn_worker(settings, "victim")
    try:

        async def busy_mid_batch() -> bool:
            assert victim.poll() is None, victim.stderr.read() if victim.stderr else ""
            processed = (await queue.stats()).counters["processed"]
            return processed >= 32 and bool(await _holding(queue, settings, "victim"))

        await wait_until(busy_mid_batch, timeout=60, what="the worker to be in the middle of a batch")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        victim.kill()
        victim.communicate(timeout=10)
    orphans = await _holding(queue, settings, "victim")
    assert orphans, "the worker was killed between batches"
    done_before = (await queue.stats()).counters["processed"]
    assert done_before < EVENTS

    report = await burst(settings, embedder, "rescuer")
    assert report.reclaimed >= len(orphans) and report.processed == EVENTS - done_before
    attempts = await _all_done(settings, embedder, ids)
    assert sum(a == 2 for a in attempts.values()) >= len(orphans)  # each orphan's second delivery
    stats = await queue.stats()
    assert (stats.pending, stats.lag, stats.dlq_size, stats.counters["processed"]) == (0, 0, 0, EVENTS)
    counts = stored(settings.storage.path)
    assert len(counts) == EVENTS * MESSAGES and set(counts.values()) == {1}  # nothing lost, nothing twice


async def test_sigterm_drains_the_batch_in_hand_then_leaves_the_group(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder, queue: EventQueue
) -> None:
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix)
    ids = await _enqueue_all(settings, embedder)
    worker = _spawn_worker(settings, "leaver")
    try:

        async def busy() -> bool:
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            return bool(await _holding(queue, settings, "leaver"))

        await wait_until(busy, timeout=60, what="the worker to take a batch")
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    finally:
        worker.kill()
    assert worker.returncode == 0, err
    assert "draining" in err and '"consumer": "leaver"' in out
    assert await _holding(queue, settings, "leaver") == []  # every event it took was finished
    members = await queue.client.xinfo_consumers(queue.keys.stream, settings.pipeline.group)  # type: ignore[attr-defined]
    assert "leaver" not in {m["name"] for m in members}
    assert await queue.worker_info("leaver") == []
    assert (await queue.stats()).counters["processed"] < EVENTS  # it stopped early

    await burst(settings, embedder, "next")
    assert set((await _all_done(settings, embedder, ids)).values()) == {1}
    counts = stored(settings.storage.path)
    assert len(counts) == EVENTS * MESSAGES and set(counts.values()) == {1}
