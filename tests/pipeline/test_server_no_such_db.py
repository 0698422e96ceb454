"""A ``pipeline.redis_url`` naming a database Redis does not have is a configuration error, not an
outage: the server refuses adds with 503 naming the database and ``pipeline.redis_url`` whatever
``pipeline.on_unavailable`` says, as for a refused password (before, it processed them
synchronously, or refused them as for an unreachable Redis), ``/health`` says ``writes:
rejected``, and it asks Redis again every second, so a Redis given that database is used with no
restart."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from memoryd.embedders.use import USEEmbedder
from memoryd.errors import QueueUnavailableError
from memoryd.pipeline import Submission
from memoryd.pipeline.local_redis import LocalRedis
from tests.api.conftest import running_server
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import producer, stored, turn, wait_until


def _no_such_db(url: str, db: int) -> str:
    return url.rsplit("/", 1)[0] + f"/{db}"


@pytest.mark.parametrize("on_unavailable", ["sync", "reject"])
def test_the_server_refuses_adds_with_503_naming_the_missing_database(
    tmp_path: Path, redis_server: LocalRedis, embedder: USEEmbedder, on_unavailable: str
) -> None:
    url = _no_such_db(redis_server.url, 99)
    settings = pipeline_settings(tmp_path / "m.db", url, "nodb:", on_unavailable=on_unavailable)
    with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        for n in (1, 2):  # whether it meets Redis or comes while the queue is skipped after a failure
            body = {"messages": [{"role": "user", "content": f"I keep bees, hive {n}"}], "user_id": "ana"}
            r = c.post("/v1/memories", json={**body, "event_id": f"e-{n}"})
            assert r.status_code == 503, r.text
            assert "database 99" in r.text and "pipeline.redis_url" in r.text, r.text
            assert "unreachable" not in r.text and "processed synchronously" not in r.text, r.text
        health = c.get("/health").json()["checks"]["pipeline"]
        assert health["status"] == "degraded" and health["writes"] == "rejected", health
        assert "database 99" in health["error"] and "unreachable" not in health["error"], health
    assert not stored(settings.storage.path)  # not processed synchronously either


async def test_a_redis_given_the_database_is_used_with_no_restart(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    redis = LocalRedis(tmp_path / "redis", appendonly=False, options={"databases": "2"})
    redis.start()
    try:
        settings = pipeline_settings(tmp_path / "m.db", _no_such_db(redis.url, 3), "nodb:")
        async with producer(settings, embedder) as (pipeline, memory):
            with pytest.raises(QueueUnavailableError, match="has no database 3"):
                await pipeline.submit_add(memory, turn("ana", 1), event_id="e-1")
            assert (await pipeline.health())["writes"] == "rejected"
            redis.stop()
            redis.options["databases"] = "16"  # the operator gives Redis the database
            redis.start()
            done: list[Submission] = []

            async def queued() -> bool:
                try:
                    done.append(await pipeline.submit_add(memory, turn("ana", 1), event_id="e-1"))
                except QueueUnavailableError as exc:  # until the queue is asked again
                    assert "has no database 3" in exc.message or "unreachable" in exc.message
                    return False
                return True

            await wait_until(queued, what="the producer to ask Redis again")
            assert done[0].pipeline == "queued" and not done[0].duplicate
            assert (await pipeline.health())["writes"] == "queued"
    finally:
        redis.stop(kill=True)
