"""A second SIGTERM that comes while ``memoryd worker`` closes its connections, its run over, is a
second signal like any other: it exits 143 saying it stopped at once. Before, the cancel landed in
the clean-up's ``await queue.close()``, escaped ``asyncio.run`` and was taken for Ctrl-C: exit 130
"interrupted"; and it said "the events it held will be redelivered" when it held none: it now says its
drain had finished and it held nothing. (The child sends both signals itself, at fixed points: see
second_signal_child.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from memoryd.pipeline.local_redis import LocalRedis

ROOT = Path(__file__).resolve().parents[2]


def test_a_second_sigterm_during_the_final_clean_up_exits_143(
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
            [sys.executable, str(child), "--consumer", "second-w"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:  # a guard only: the child never waits on the test
        pytest.fail(f"the worker did not stop: {exc.stderr!r}")
    said = " ".join(done.stderr.split())
    assert "second signal: stopping at once" in said, said  # the second came, once the run had ended
    assert done.returncode == 143, said
    assert "stopped at once by a second SIGTERM" in said and "interrupted" not in said, said
    # the drain had finished: the worker held nothing (it said "the events it held will be
    # redelivered", when it held none)
    assert "it had finished its drain first (every batch recorded): it held nothing" in said, said
    assert "will be redelivered" not in said, said
