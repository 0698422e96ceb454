"""A worker started under the name of one that died without leaving (SIGKILL) waits for that name's
claim to run out, at most three heartbeat intervals (15 s by default), and then starts. It says so as
it starts waiting: before, it printed nothing for those seconds, and looked hung."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from memoryd.pipeline import build_queue
from tests.pipeline.conftest import PipelineCli

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_waiting_for_a_dead_workers_name_says_so(pipeline_cli: Callable[..., PipelineCli]) -> None:
    cli = pipeline_cli(PIPELINE__BLOCK_MS="100")

    async def claim_as_a_dead_worker() -> None:  # a claim nobody renews: its process is gone
        queue = build_queue(cli.settings.pipeline)
        try:
            await queue.ensure_group()
            info = {"consumer": "ghost", "group": cli.settings.pipeline.group, "host": "gone-host", "pid": 7}
            assert await queue.heartbeat("ghost", info, 5_000) == 0
        finally:
            await queue.close()

    asyncio.run(claim_as_a_dead_worker())
    ran = subprocess.run(
        [sys.executable, "-m", "memoryd", "worker", "--burst", "--consumer", "ghost"], cwd=ROOT,
        env={**os.environ, **cli.env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "consumer name 'ghost' is claimed by another process on gone-host (pid 7)" in ran.stderr, ran.stderr
    assert "; waiting up to " in ran.stderr and " s for its claim to run out" in ran.stderr, ran.stderr
