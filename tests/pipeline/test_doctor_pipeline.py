"""`memoryd doctor` reports the pipeline: off, Redis reachable, or unreachable with the fix."""

from __future__ import annotations

import socket
from pathlib import Path

from memoryd.cli.doctor import exit_code, pipeline_check, run_doctor
from memoryd.config import load_settings
from memoryd.pipeline.local_redis import LocalRedis
from tests.pipeline.conftest import pipeline_settings


def test_off_by_default(tmp_path: Path) -> None:
    check = pipeline_check(load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "m.db")}}))
    assert check.status == "ok" and "synchronously" in check.detail


def test_reachable_redis(tmp_path: Path, redis_server: LocalRedis, prefix: str) -> None:
    check = pipeline_check(pipeline_settings(tmp_path / "m.db", redis_server.url, prefix))
    assert check.status == "ok" and f"{prefix}chat_log" in check.detail


def test_unreachable_redis_fails_and_names_the_fix(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = pipeline_settings(tmp_path / "m.db", f"redis://127.0.0.1:{port}/0", "x:", timeout_s=0.5)
    check = pipeline_check(settings)
    assert check.status == "fail" and "synchronous adds" in check.detail
    assert check.fix is not None and "redis-server" in check.fix
    assert exit_code(run_doctor(settings, config_error=None, config_path=None, env={})) == 1
