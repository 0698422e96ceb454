"""`memoryd doctor` with a Redis that refuses pipeline.redis_url's password said Redis was
unreachable, that the server meanwhile gave synchronous adds, and to start redis-server: all three
wrong (the server refuses adds with 503; the password is the fix). It now says so."""

from __future__ import annotations

from pathlib import Path

from memoryd.cli.doctor import pipeline_check
from memoryd.config import load_settings
from memoryd.pipeline.local_redis import LocalRedis
from tests.pipeline.test_redis_password import WRONG, _with_password, locked  # noqa: F401 - the fixture


def test_doctor_names_a_refused_password_not_an_outage(tmp_path: Path, locked: LocalRedis) -> None:  # noqa: F811
    settings = load_settings(
        env={},
        overrides={
            "storage": {"path": str(tmp_path / "m.db")},
            "async_pipeline": True,
            "pipeline": {"redis_url": _with_password(locked.url, WRONG), "prefix": "pw:"},
        },
    )
    check = pipeline_check(settings)
    assert check.status == "fail"
    assert "refused the password" in check.detail and "refuses adds (503)" in check.detail
    assert "unreachable" not in check.detail and "synchronous" not in check.detail
    assert "redis-server" not in check.fix and "MEMORYD_PIPELINE__REDIS_URL" in check.fix
    assert WRONG not in check.detail + check.fix
