"""A ``pipeline.redis_url`` whose database is no number (``/l`` typed for ``/1``) was taken as
database 0 (redis-py skips a database it cannot read) while every message named it as given
(``Redis at 127.0.0.1:6379/l``): the pipeline used another database than the one it named. It is now
a configuration error, as any other malformed URL is; a numbered database works as before."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from memoryd.errors import ConfigError
from memoryd.pipeline import build_queue
from memoryd.pipeline.local_redis import LocalRedis
from tests.pipeline.conftest import PipelineCli, pipeline_settings


@pytest.mark.parametrize("db", ["l", "abc", "1x", "%31x"])
def test_a_database_that_is_no_number_is_refused(
    pipeline_cli: Callable[..., PipelineCli], redis_server: LocalRedis, db: str
) -> None:
    base = redis_server.url.rsplit("/", 1)[0]
    cli = pipeline_cli(PIPELINE__REDIS_URL=f"{base}/{db}")
    listed = cli.run("dlq", "list")
    assert listed.exit_code == 2, listed.stdout + listed.stderr
    assert "pipeline.redis_url is not a valid Redis URL" in listed.stderr
    checked = cli.run("worker", "--check")
    assert checked.exit_code == 1 and "not a valid Redis URL" in checked.stderr  # a health check: 0 or 1


@pytest.mark.parametrize("db", ["0", "1", "", "1/"])
def test_a_numbered_database_or_none_is_taken(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, db: str
) -> None:
    base = redis_server.url.rsplit("/", 1)[0]
    settings = pipeline_settings(tmp_path / "m.db", f"{base}/{db}", prefix)
    try:
        queue = build_queue(settings.pipeline)
    except ConfigError as exc:  # pragma: no cover - the failure this test is for
        pytest.fail(f"refused {db!r}: {exc}")
    want = int(db.strip("/") or 0)
    assert queue.client.connection_pool.connection_kwargs.get("db", 0) == want  # type: ignore[attr-defined]
