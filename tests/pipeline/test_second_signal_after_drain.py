"""A second SIGTERM that comes once the worker's drain has finished (every batch recorded, only the
clean-up of its connections left) still exits 143, but the worker said "the events it held will be
redelivered" when it held none. It now says its drain had finished and it held nothing. (The child
sends both signals itself, at fixed points: see second_signal_child.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from memoryd.pipeline.local_redis import LocalRedis

ROOT = Path(__file__).resolve().parents[2]


def test_a_second_sigterm_after_the_drain_says_nothing_was_held(
    tmp_path: Path, redis_server: LocalRedis, prefix: str
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")},
        "PYTHONPATH": str(ROOT),
        "MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"),
        "MEMORYD_PIPELINE__REDIS_URL": redis_server.url,
        "MEMORYD_PIPELINE__PREFIX": prefix,
        "MEMORYD_PIPELINE__BLOCK_MS": "100",
        "MEMORYD_ASYNC_PIPELINE": "true",
        "MEMORYD_SERVER__LOG_LEVEL": "info",
    }
    child = ROOT / "tests" / "pipeline" / "second_signal_child.py"
    try:
        done = subprocess.run(
            [sys.executable, str(child), "--consumer", "drained-w"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:  # a guard only: the child never waits on the test
        pytest.fail(f"the worker did not stop: {exc.stderr!r}")
    said = " ".join(done.stderr.split())
    assert done.returncode == 143, said
    assert "stopped at once by a second SIGTERM" in said, said
    assert "it had finished its drain first (every batch recorded): it held nothing" in said, said
    assert "will be redelivered" not in said, said
