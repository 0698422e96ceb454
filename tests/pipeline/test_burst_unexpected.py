"""``memoryd worker --burst`` ends, exit 1 naming the error, when an unexpected error (one that is
neither an outage nor an event's own failure) keeps coming back; what it held stays pending.

Before, the loop logged such an error and went on for ever, the batch redelivered to it again after
``claim_idle_ms``: a cron job never ended. The trigger is a real one: an entry an external producer
wrote (``redis-cli XADD``) whose payload's ``user_id`` is a number. The decoder takes it, validation
dead-letters it, and recording that dead letter fails in the queue's own key naming (an
``AttributeError`` out of the batch, every time it is redelivered).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from memoryd.pipeline import build_queue
from tests.pipeline.conftest import PipelineCli

ROOT = Path(__file__).resolve().parents[2]


def test_a_burst_worker_gives_up_on_an_unexpected_error_that_keeps_coming_back(
    pipeline_cli: Callable[..., PipelineCli],
) -> None:
    cli = pipeline_cli(PIPELINE__BLOCK_MS="100", PIPELINE__CLAIM_IDLE_MS="1000")

    async def enqueue() -> str:
        queue = build_queue(cli.settings.pipeline)
        try:
            await queue.ensure_group()
            payload = json.dumps({"messages": "I keep bees", "user_id": 5})
            fields = {"v": "2", "event_id": "odd-1", "type": "add", "attempt": "1", "payload": payload}
            return str(await queue.client.xadd(queue.keys.stream, fields))  # type: ignore[attr-defined]
        finally:
            await queue.close()

    entry = asyncio.run(enqueue())
    try:
        # A guard against the hang this test is about, not a measure.
        run = subprocess.run(
            [sys.executable, "-m", "memoryd", "worker", "--burst", "--consumer", "cron"], cwd=ROOT,
            env={**os.environ, **cli.env}, capture_output=True, text=True, timeout=100,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise AssertionError("memoryd worker --burst never ended on an unexpected error") from exc
    assert run.returncode == 1, run.stderr
    said = " ".join(run.stderr.split())
    assert "unexpected error: AttributeError" in said and "burst mode" in said, said

    async def left() -> tuple[list[object], list[object], int]:
        queue = build_queue(cli.settings.pipeline)
        client, keys = queue.client, queue.keys  # type: ignore[attr-defined]
        try:
            pending = await client.xpending_range(keys.stream, cli.settings.pipeline.group, "-", "+", 10)
            dlq, length = await client.xrange(keys.dlq), await client.xlen(keys.stream)
            return [p["message_id"] for p in pending], dlq, length
        finally:
            await queue.close()

    pending, dlq, length = asyncio.run(left())
    assert pending == [entry] and dlq == [] and length == 1  # kept, not acknowledged, not dead-lettered
