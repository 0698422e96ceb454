"""`memoryd doctor` with a pipeline.redis_url naming a database Redis does not have (``/99``) said
Redis was unreachable ("a configuration error, not an outage" inside the same sentence), that the
server meanwhile gave synchronous adds, and to start redis-server. It now names the database in
pipeline.redis_url as the fix, and says the server refuses adds (503)."""

from __future__ import annotations

from pathlib import Path

from memoryd.cli.doctor import pipeline_check
from memoryd.config import load_settings
from memoryd.pipeline.local_redis import LocalRedis


def test_doctor_names_the_missing_database_not_an_outage(tmp_path: Path, redis_server: LocalRedis) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + "/99"
    settings = load_settings(
        env={},
        overrides={
            "storage": {"path": str(tmp_path / "m.db")},
            "async_pipeline": True,
            "pipeline": {"redis_url": url, "prefix": "nodb:"},
        },
    )
    check = pipeline_check(settings)
    assert check.status == "fail"
    assert "has no database 99" in check.detail and "refuses adds (503)" in check.detail, check.detail
    assert "unreachable" not in check.detail and "synchronous" not in check.detail, check.detail
    assert "redis-server" not in check.fix, check.fix
    assert "database" in check.fix and "pipeline.redis_url" in check.fix, check.fix
