"""A worker stopped (SIGTERM) while it still waits for Redis to answer at start: a stop like any
other, not a failure. It held nothing, so it returns its (empty) report and exits 0; before, it
raised the last connection error and ``memoryd worker`` exited 1 with ``error: ... unreachable``
(``systemctl stop`` during a Redis outage left a failed unit)."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from pathlib import Path

import pytest

from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import free_port
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import worker_over
from tests.pipeline.test_worker_process import _spawn_worker


async def test_a_worker_stopped_while_redis_is_down_at_start_returns_its_report(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    down = pipeline_settings(tmp_path / "m.db", f"redis://127.0.0.1:{free_port()}/0", "down:")
    announced: list[bool] = []
    async with worker_over(down, embedder) as worker:
        running = asyncio.create_task(worker.run(started=lambda: announced.append(True)))
        await asyncio.sleep(0.3)  # it has tried, and waits to try again
        assert not running.done()
        worker.stop()
        report = await asyncio.wait_for(running, timeout=20)
    assert report.processed == 0 and report.batches == 0
    assert announced == []  # it never said it consumes


@pytest.mark.slow
def test_sigterm_while_redis_is_down_at_start_exits_0(tmp_path: Path) -> None:
    down = pipeline_settings(tmp_path / "m.db", f"redis://127.0.0.1:{free_port()}/0", "down:")
    proc = _spawn_worker(down, "waiting-w")
    timer = threading.Timer(120, proc.kill)  # never hang the suite on a worker that says nothing
    timer.start()
    try:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # the worker runs (signals handled) and waits for Redis
            seen.append(line)
            if "retrying in" in line:
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        timer.cancel()
        proc.kill()
    assert proc.returncode == 0, "".join(seen) + err
    assert "error:" not in err and "stopped before Redis answered" in err
    assert json.loads(out)["processed"] == 0
