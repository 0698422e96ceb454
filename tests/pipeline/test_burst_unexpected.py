"""An unexpected error (one that is neither an outage nor an event's own failure) that keeps coming
back ends a burst run with an error naming it, what it held left pending; and an outside producer's
event whose ``user_id`` is a number, which used to be such an error, is dead-lettered naming it.

Before, the loop logged such an error and went on for ever, the batch redelivered to it again after
``claim_idle_ms``: a cron job never ended. The one real trigger found was an entry an external
producer wrote (``redis-cli XADD``) with ``"user_id": 5``: the decoder took it, validation
dead-lettered it, and recording that letter failed in the queue's own key naming (an
``AttributeError``). The decoder now refuses it, so the error that keeps coming back is a queue whose
``finish`` has a bug (a subclass of the real Redis queue, over a real Redis).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from memoryd import AsyncMemory, Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import MemorydError
from memoryd.pipeline import Worker, build_queue
from memoryd.pipeline.base import Outcome
from tests.pipeline.conftest import PipelineCli
from tests.pipeline.helpers import producer, turn

ROOT = Path(__file__).resolve().parents[2]


def test_an_outside_events_number_user_id_is_dead_lettered_naming_the_field(
    pipeline_cli: Callable[..., PipelineCli],
) -> None:
    cli = pipeline_cli(PIPELINE__BLOCK_MS="100", PIPELINE__CLAIM_IDLE_MS="1000")

    async def enqueue() -> None:
        queue = build_queue(cli.settings.pipeline)
        try:
            await queue.ensure_group()
            payload = json.dumps({"messages": "I keep bees", "user_id": 5})
            fields = {"v": "2", "event_id": "odd-1", "type": "add", "attempt": "1", "payload": payload}
            await queue.client.xadd(queue.keys.stream, fields)  # type: ignore[attr-defined]
        finally:
            await queue.close()

    asyncio.run(enqueue())
    try:
        # A guard against the hang this test was first about, not a measure.
        run = subprocess.run(
            [sys.executable, "-m", "memoryd", "worker", "--burst", "--consumer", "cron"], cwd=ROOT,
            env={**os.environ, **cli.env}, capture_output=True, text=True, timeout=100,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise AssertionError("memoryd worker --burst never ended") from exc
    assert run.returncode == 0, run.stderr

    async def letters() -> list[object]:
        queue = build_queue(cli.settings.pipeline)
        try:
            return list(await queue.dlq_list(10))  # type: ignore[attr-defined]
        finally:
            await queue.close()

    [letter] = asyncio.run(letters())
    said = json.dumps(letter.error)  # type: ignore[attr-defined]
    assert "event.payload.user_id" in said and "string" in said, said


async def test_a_burst_worker_gives_up_on_an_unexpected_error_that_keeps_coming_back(
    psettings: Settings, embedder: USEEmbedder
) -> None:
    settings = psettings.model_copy(
        update={"pipeline": psettings.pipeline.model_copy(update={"claim_idle_ms": 200})}
    )
    async with producer(settings, embedder) as (pipeline, memory):
        await pipeline.submit_add(memory, turn("ana", 0), event_id="e-1")
    real = build_queue(settings.pipeline, blocking=True)

    class Buggy(type(real)):  # type: ignore[misc]
        async def finish(self, outcomes: list[Outcome], consumer: str, ttl_s: int) -> None:
            raise RuntimeError("a bug in recording outcomes")

    await real.close()
    queue = Buggy(settings.pipeline, blocking=True)
    worker_memory = await AsyncMemory(settings, embedder=embedder).open()
    try:
        worker = Worker(worker_memory, queue, settings.pipeline, consumer="cron")
        with pytest.raises(MemorydError) as info:
            await asyncio.wait_for(worker.run(burst=True), timeout=60)  # a guard, not a measure
        assert "RuntimeError" in info.value.message and "burst" in info.value.message
        pending = await queue.client.xpending(queue.keys.stream, settings.pipeline.group)
        assert pending["pending"] == 1  # held, not acknowledged
        assert await queue.client.xlen(queue.keys.dlq) == 0
    finally:
        await queue.close()
        await worker_memory.close()
