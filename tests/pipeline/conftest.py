"""Pipeline fixtures: a real ``redis-server`` for the session, and per-test key prefixes.

The server is the Debian package's binary; when it is missing and this machine
can install it (root, ``apt-get``), it is installed first, as ``make test`` does.
Tests skip, naming the command, only when it is absent and cannot be installed.
It listens on a free loopback port, keeps its files in a tmp dir, and stops at
the end of the session. Each test gets its own key prefix, so tests sharing the
server never see each other's streams.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from memoryd import Settings, load_settings
from memoryd.cli import app
from memoryd.pipeline import EventQueue, build_queue
from memoryd.pipeline.local_redis import LocalRedis, redis_server_binary

INSTALL_HINT = "apt-get install redis-server"


def _install_redis_server() -> str | None:
    """Install Debian's redis-server when missing and possible; its path, or None."""
    if redis_server_binary() is not None:
        return redis_server_binary()
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "install", "-y", "-q", "redis-server"], ["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "redis-server"]):  # fmt: skip
        subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
        if redis_server_binary() is not None:
            break
    return redis_server_binary()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedis]:
    if _install_redis_server() is None:
        pytest.skip(f"redis-server is not installed and cannot be installed here: {INSTALL_HINT}")
    with LocalRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[LocalRedis]:
    """A redis-server of this test's own, with no append-only file, killed at the end: a restart
    loads the last RDB snapshot (taken only by SAVE here), else comes back empty."""
    server = LocalRedis(tmp_path / "redis", appendonly=False)
    server.start()
    yield server
    server.stop(kill=True)


def pipeline_settings(
    db: Path, redis_url: str, prefix: str, sections: dict[str, Any] | None = None, **pipeline: object
) -> Settings:
    """A fresh store and the pipeline on, with short timings so tests run fast; ``sections`` adds
    other settings (``{"limits": {...}}``)."""
    return load_settings(
        env={},
        overrides={
            **(sections or {}),
            "storage": {"path": str(db), "synchronous": "NORMAL"},
            "pipeline": {
                "enabled": True,
                "redis_url": redis_url,
                "prefix": prefix,
                "claim_idle_ms": 1000,
                "block_ms": 100,
                "backoff_base_ms": 20,
                "backoff_max_ms": 100,
                **pipeline,
            },
        },
    )


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def psettings(tmp_path: Path, redis_server: LocalRedis, prefix: str) -> Settings:
    return pipeline_settings(tmp_path / "memoryd.db", redis_server.url, prefix)


@pytest.fixture
async def queue(psettings: Settings) -> AsyncIterator[EventQueue]:
    q = build_queue(psettings.pipeline)
    try:
        yield q
    finally:
        await q.close()


@dataclass
class PipelineCli:
    """The ``memoryd`` command with the pipeline on: its environment, its settings, and a runner."""

    env: dict[str, str]
    settings: Settings

    def run(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, list(args), env=self.env, input=input)


def doc(result: Result) -> Any:
    """The one JSON document a ``--json`` command printed."""
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def pipeline_cli(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., PipelineCli]:
    """``pipeline_cli(**more)``: CLI calls on a fresh store with the pipeline on (none of the
    developer's MEMORYD_* variables; ``more``: other variables, without the MEMORYD_ prefix)."""
    for name in list(os.environ):
        if name.startswith("MEMORYD_"):
            monkeypatch.delenv(name)

    def make(**more: str) -> PipelineCli:
        env = {
            "MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"),
            "MEMORYD_ASYNC_PIPELINE": "true",
            "MEMORYD_PIPELINE__REDIS_URL": redis_server.url,
            "MEMORYD_PIPELINE__PREFIX": prefix,
            **{f"MEMORYD_{k}": v for k, v in more.items()},
        }
        return PipelineCli(env, load_settings(env=env))

    return make
