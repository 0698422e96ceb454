"""A ``memoryd worker`` that finds its consumer name taken while it runs (it stalled past its claim,
and another process took the name) stops and exits 2, saying what happened and what to do.

Before, it logged an ERROR and exited 0, which a supervisor reads as a clean stop. The stall is real:
the worker process is stopped (SIGSTOP) until its claim runs out, and another client takes the name.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from memoryd.pipeline import EventQueue, build_queue
from tests.pipeline.conftest import PipelineCli
from tests.pipeline.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_whose_name_is_taken_while_it_stalled_exits_2_saying_so(
    pipeline_cli: Callable[..., PipelineCli],
) -> None:
    cli = pipeline_cli(PIPELINE__BLOCK_MS="100", PIPELINE__CLAIM_IDLE_MS="1000")  # a claim of 1 s
    stalled = subprocess.Popen(
        [sys.executable, "-m", "memoryd", "worker", "--consumer", "same"], cwd=ROOT,
        env={**os.environ, **cli.env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    async def take_the_name() -> None:
        queue = build_queue(cli.settings.pipeline)  # another client: another process's claim
        try:
            await wait_until(lambda: _alive(queue), timeout=60, what="the worker to hold its name")
            stalled.send_signal(signal.SIGSTOP)
            info = {"consumer": "same", "group": cli.settings.pipeline.group, "host": "elsewhere", "pid": 1}

            async def taken() -> bool:  # once the stalled worker's claim has run out
                return await queue.heartbeat("same", info, 60_000) == 0

            await wait_until(taken, timeout=30, what="the stalled worker's claim to run out")
        finally:
            await queue.close()

    try:
        asyncio.run(take_the_name())
        stalled.send_signal(signal.SIGCONT)
        out, err = stalled.communicate(timeout=60)
    finally:
        if stalled.poll() is None:
            stalled.kill()
            stalled.communicate()
    assert stalled.returncode == 2, err
    assert "another process took this worker's consumer name 'same'" in err, err
    assert "stalled past its heartbeats" in err and "--consumer NAME" in err, err


async def _alive(queue: EventQueue) -> bool:
    return bool(await queue.worker_info("same"))
