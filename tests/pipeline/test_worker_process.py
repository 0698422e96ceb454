"""``memoryd worker`` as a real process: SIGKILL mid-batch loses nothing and stores nothing twice;
SIGTERM drains the batch in hand and leaves the group; a second SIGTERM stops it at once, cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from memoryd import Settings
from memoryd.embedders.openai import OpenAIEmbedder
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline import AddPayload, EventQueue, EventStatus
from memoryd.pipeline.local_redis import LocalRedis
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import burst, producer, stored, turn, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 120
MESSAGES = 10  # per event: batches of 16 events take long enough to be caught in the middle


def _spawn_worker(
    settings: Settings, consumer: str, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
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
        **(extra_env or {}),
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


async def test_a_second_sigterm_stops_at_once_without_a_traceback(
    tmp_path: Path,
    redis_server: LocalRedis,
    prefix: str,
    queue: EventQueue,
    fake_llm: Script,
    fake_llm_server: FakeLLMServer,
) -> None:
    embedder = {"provider": "openai", "model": "emb", "base_url": fake_llm.base_url, "dim": 16}
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, {"embedder": embedder})
    remote = OpenAIEmbedder.from_config(settings.embedder)
    async with producer(settings, remote) as (pipeline, memory):
        await pipeline.submit_add(memory, turn("ana", 1), event_id="chat-1")
    fake_llm.reply_text("ok")  # the worker's warm-up embedding
    fake_llm.hang(60)  # then its batch's: it stays in the middle of that batch until the reset below
    env = {f"MEMORYD_EMBEDDER__{k.upper()}": str(v) for k, v in embedder.items()}
    worker = _spawn_worker(settings, "quitter", env)
    lines: list[str] = []

    def read_stderr() -> None:
        for line in worker.stderr or []:
            lines.append(line)

    pump = threading.Thread(target=read_stderr, daemon=True)
    pump.start()

    def said(text: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            assert worker.poll() is None, "".join(lines)
            return any(text in line for line in lines)

        return check

    async def embedding() -> bool:
        assert worker.poll() is None, "".join(lines)
        return len(fake_llm.requests) >= 2

    try:
        await wait_until(embedding, timeout=60, what="the worker to be embedding its batch")
        worker.send_signal(signal.SIGTERM)
        await wait_until(said("draining"), timeout=30, what="the worker to drain")
        worker.send_signal(signal.SIGTERM)
        await wait_until(said("second signal"), timeout=30, what="the worker to stop at once")
        fake_llm_server.reset()  # lets the embedding thread it was waiting on return
        worker.wait(timeout=30)
        pump.join(timeout=10)
    finally:
        fake_llm_server.reset()
        worker.kill()
        worker.communicate(timeout=10)
    err = "".join(lines)
    assert worker.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and "CancelledError" not in err
    assert "stopped at once" in err

    record = await queue.status("chat-1")
    assert record is not None and record.status is EventStatus.PROCESSING  # still held: redelivered later
    remote.close()


_SAID = (
    ("s1", "I live in Paris.", "2024-01-01T00:00:00Z"),
    ("s2", "I live in Berlin.", "2024-02-01T00:00:00Z"),
    ("s3", "I work at Acme.", "2024-03-01T00:00:00Z"),
    ("s4", "I work at Acme!", "2024-04-01T00:00:00Z"),
)


async def test_two_worker_processes_never_add_for_one_user_at_once(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder, queue: EventQueue
) -> None:
    # Each add reads what its user's earlier adds stored before it commits; two workers adding
    # for one user at once each missed the other's rows: two homes current, a workplace twice.
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix)
    users = [f"user{n}" for n in range(24)]
    workers = [_spawn_worker(settings, name) for name in ("w1", "w2")]
    try:

        async def both_alive() -> bool:
            for w in workers:  # a worker that died at start says why
                assert w.poll() is None, f"exit {w.returncode}: {w.stderr.read() if w.stderr else ''}"
            return len(await queue.worker_info()) == 2

        await wait_until(both_alive, timeout=60, what="both workers to start")
        ids = []
        async with producer(settings, embedder) as (pipeline, memory):
            for run_id, text, when in _SAID:  # one statement of every user, then the next
                for user in users:
                    message = {"role": "user", "content": text}
                    payload = AddPayload([message], user_id=user, run_id=run_id, timestamp=when)
                    ids.append((await pipeline.submit_add(memory, payload)).event_id)

            async def drained() -> bool:
                return (await queue.stats()).counters["processed"] >= len(ids)

            await wait_until(drained, timeout=120, what="every event processed")
            wrong = {}
            for user in users:
                profile = await memory.get_all(user_id=user, filters={"kind": "profile"})
                texts = sorted(m.text for m in profile.items)
                if texts != ["The user lives in Berlin.", "The user works at Acme."]:
                    wrong[user] = texts
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.communicate(timeout=30)
    assert wrong == {}
