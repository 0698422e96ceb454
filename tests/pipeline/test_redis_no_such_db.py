"""A ``pipeline.redis_url`` naming a database Redis does not have (``/99`` on a Redis with the default
16) is a configuration error, not an outage: no wait mends it. ``memoryd worker`` exits 2 at once
naming the setting (before, it retried every 2 s for ever, and ``--burst`` for 30 s, then exited 1
calling it a refusal to create the consumer group), and ``worker --check`` and ``dlq list`` name the
setting and the database too."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from memoryd.cli import app
from memoryd.pipeline.local_redis import LocalRedis


def _cli(tmp_path: Path, url: str, *args: str) -> tuple[int, str]:
    env = {
        "MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"),
        "MEMORYD_ASYNC_PIPELINE": "true",
        "MEMORYD_PIPELINE__REDIS_URL": url,
        "MEMORYD_PIPELINE__PREFIX": "nodb:",
    }
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout + result.stderr


def test_a_database_redis_does_not_have_is_a_configuration_error(
    tmp_path: Path, redis_server: LocalRedis
) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + "/99"
    code, said = _cli(tmp_path, url, "worker", "--burst")
    assert code == 2, said
    assert "pipeline.redis_url" in said and "database 99" in said, said
    assert "gave up" not in said and "retrying" not in said, said
    code, said = _cli(tmp_path, url, "worker", "--check")
    assert code == 1 and "pipeline.redis_url" in said and "database 99" in said, said
    code, said = _cli(tmp_path, url, "dlq", "list")
    assert code == 1 and "pipeline.redis_url" in said and "database 99" in said, said
