"""A Redis that refuses ``pipeline.redis_url``'s password (a wrong one, or none where it requires
one) is a configuration error, not an outage: a worker stops at once (``memoryd worker`` exits 2)
saying so, ``--check`` says so, and the server refuses adds with 503 naming it (whatever
``pipeline.on_unavailable`` says: that is for an unreachable Redis), its ``/health`` too. The
password itself is never shown."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis
from typer.testing import CliRunner

from memoryd.cli import app
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import ConfigError, QueueUnavailableError
from memoryd.pipeline import Submission
from memoryd.pipeline.local_redis import LocalRedis
from tests.api.conftest import running_server
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import producer, stored, turn, wait_until, worker_over

SECRET = "s3cret-Pw"
WRONG = "wr0ng-Pw"


def _with_password(url: str, password: str | None) -> str:
    parts = urlsplit(url)
    netloc = f":{password}@{parts.netloc}" if password is not None else parts.netloc
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def locked(own_redis: LocalRedis) -> Iterator[LocalRedis]:
    """A Redis of this test's own that requires the password SECRET."""
    client = redis.Redis.from_url(own_redis.url)
    client.config_set("requirepass", SECRET)
    client.close()
    yield own_redis


def _cli(tmp_path: Path, url: str, *args: str) -> tuple[int, str]:
    env = {
        "MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"),
        "MEMORYD_ASYNC_PIPELINE": "true",
        "MEMORYD_PIPELINE__REDIS_URL": url,
        "MEMORYD_PIPELINE__PREFIX": "pw:",
    }
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize("password", [WRONG, None], ids=["wrong", "none"])
def test_memoryd_worker_exits_at_once_on_a_refused_password(
    tmp_path: Path, locked: LocalRedis, password: str | None
) -> None:
    url = _with_password(locked.url, password)
    # --burst: before the fix it tried for 30 s, said "unreachable" and exited 1; without --burst,
    # it retried every 2 s for ever.
    code, said = _cli(tmp_path, url, "worker", "--burst")
    assert code == 2, said
    assert "pipeline.redis_url" in said and "authentication refused" in said, said
    assert "unreachable" not in said and WRONG not in said, said
    assert ("refused the password" if password else "gives none") in said, said
    code, said = _cli(tmp_path, url, "worker", "--check")
    assert code == 1 and "authentication refused" in said and "unreachable" not in said, said
    assert WRONG not in said


async def test_a_worker_whose_password_is_refused_stops_with_a_config_error(
    tmp_path: Path, locked: LocalRedis, embedder: USEEmbedder
) -> None:
    settings = pipeline_settings(tmp_path / "m.db", _with_password(locked.url, WRONG), "pw:")
    async with worker_over(settings, embedder) as worker:
        # The guard only keeps the old code (which retried for ever) from hanging the test.
        with pytest.raises(ConfigError, match="refused the password in pipeline.redis_url") as caught:
            await asyncio.wait_for(worker.run(), timeout=60)
    assert caught.value.field == "pipeline.redis_url" and WRONG not in caught.value.message


async def test_a_running_worker_stops_once_redis_refuses_its_password(
    tmp_path: Path, own_redis: LocalRedis, embedder: USEEmbedder
) -> None:
    settings = pipeline_settings(tmp_path / "m.db", own_redis.url, "pw:")
    async with worker_over(settings, embedder) as worker:
        running = asyncio.create_task(worker.run())

        async def runs() -> bool:
            return worker.state == "running"

        await wait_until(runs, what="the worker to run")
        client = redis.Redis.from_url(own_redis.url)
        client.config_set("requirepass", SECRET)  # the password changed on Redis, not in memoryd
        client.client_kill_filter(_type="normal", skipme=True)  # its connections must log in again
        client.close()
        with pytest.raises(ConfigError, match="requires a password and pipeline.redis_url gives none"):
            await asyncio.wait_for(running, timeout=60)


@pytest.mark.parametrize("on_unavailable", ["sync", "reject"])
def test_the_server_refuses_adds_with_503_naming_the_refused_password(
    tmp_path: Path, locked: LocalRedis, embedder: USEEmbedder, on_unavailable: str
) -> None:
    url = _with_password(locked.url, WRONG)
    settings = pipeline_settings(tmp_path / "m.db", url, "pw:", on_unavailable=on_unavailable)
    with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        for n in (1, 2):  # whether it meets Redis or comes while the queue is skipped after a failure
            body = {"messages": [{"role": "user", "content": f"I keep bees, hive {n}"}], "user_id": "ana"}
            r = c.post("/v1/memories", json={**body, "event_id": f"e-{n}"})
            assert r.status_code == 503, r.text
            assert "authentication refused" in r.text and "pipeline.redis_url" in r.text, r.text
            assert "unreachable" not in r.text and WRONG not in r.text, r.text
        health = c.get("/health").json()["checks"]["pipeline"]
        assert health["status"] == "degraded" and health["writes"] == "rejected", health
        assert "authentication refused" in health["error"] and "unreachable" not in health["error"]
        assert WRONG not in str(health)
    assert not stored(settings.storage.path)  # not processed synchronously either


async def test_a_real_outage_still_takes_the_synchronous_path_after_a_refused_password(
    tmp_path: Path, locked: LocalRedis, embedder: USEEmbedder
) -> None:
    settings = pipeline_settings(tmp_path / "m.db", _with_password(locked.url, WRONG), "pw:")
    async with producer(settings, embedder) as (pipeline, memory):
        assert (await pipeline.health())["writes"] == "rejected"
        locked.stop(kill=True)  # now Redis is down: an outage, on_unavailable's (sync) path
        done: list[Submission] = []

        async def bypassed() -> bool:
            try:
                done.append(await pipeline.submit_add(memory, turn("ana", 1), event_id="e-1"))
            except QueueUnavailableError as exc:  # until the queue is asked again
                assert "authentication refused" in exc.message
                return False
            return True

        await wait_until(bypassed, what="the producer to ask Redis again")
        assert done[0].pipeline == "bypassed" and "unreachable" in (done[0].reason or "")
        assert (await pipeline.health())["writes"] == "synchronous"
