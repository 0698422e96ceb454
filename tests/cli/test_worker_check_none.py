"""``memoryd worker --check`` with no worker running says so in one line: it printed the header of
an empty table (consumer, state, processed…) above its verdict. ``--json`` is as it was."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memoryd import load_settings
from memoryd.cli import app
from memoryd.pipeline import build_queue
from memoryd.pipeline.local_redis import LocalRedis, redis_server_binary


@pytest.fixture
def env(tmp_path: Path, clean_env: dict[str, str]) -> Iterator[dict[str, str]]:
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed: apt-get install redis-server")
    with LocalRedis(tmp_path / "redis") as redis:
        yield {**clean_env, "MEMORYD_ASYNC_PIPELINE": "true", "MEMORYD_PIPELINE__REDIS_URL": redis.url}


def _check(env: dict[str, str], *args: str) -> tuple[int, list[str]]:
    checked = CliRunner().invoke(app, ["worker", "--check", *args], env=env)
    return checked.exit_code, [line.strip() for line in checked.stdout.splitlines() if line.strip()]


def test_no_worker_running_is_one_line_not_an_empty_table(env: dict[str, str]) -> None:
    code, lines = _check(env)
    assert code == 1
    assert lines[0] == "no worker is running"  # was: consumer  state  processed  rate/s  …
    assert not any("consumer" in line and "heartbeat" in line for line in lines)
    assert lines[1].startswith("no worker is alive · stream")  # was: a worker is not alive · stream

    code, lines = _check(env, "--consumer", "w-1", "--local")
    assert code == 1 and lines[0].startswith("no worker 'w-1' on ") and lines[0].endswith(" is running")
    assert lines[1].startswith("worker 'w-1' on ") and " is not alive · stream" in lines[1]

    code, lines = _check(env, "--local")
    assert code == 1 and lines[1].startswith("no worker on ") and " is alive · stream" in lines[1]


def test_a_live_worker_is_still_a_table_and_json_is_unchanged(env: dict[str, str]) -> None:
    nobody = CliRunner().invoke(app, ["worker", "--check", "--json"], env=env)
    assert nobody.exit_code == 1
    report = json.loads(nobody.stdout)
    assert report["alive"] is False and report["workers"] == [] and report["workers_alive"] == 0

    async def heartbeat() -> None:
        queue = build_queue(load_settings(env=env).pipeline)
        try:
            await queue.heartbeat("w-1", {"consumer": "w-1", "state": "running", "rate": 2.5}, 10_000)
        finally:
            await queue.close()

    asyncio.run(heartbeat())
    code, lines = _check(env)
    assert code == 0
    assert lines[0].split()[:3] == ["consumer", "state", "processed"] and lines[1].startswith("w-1 ")
