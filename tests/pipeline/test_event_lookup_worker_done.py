"""While Redis is down, ``GET /v1/events/{id}`` answers an id the store knows from the store. Every
such answer said ``"pipeline": "bypassed"`` (processed on the spot, on the synchronous path), also
for an event that was queued and stored by a worker before Redis went down: the store records that
an event was applied and when, not by which path. Now only an add this server itself applied on the
synchronous path says ``bypassed``; any other the store knows is ``done`` with no ``pipeline``
(nothing claimed of how it was processed), and no ``result`` (the store keeps none)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import LocalRedis
from memoryd.pipeline.producer import RETRY_AFTER_S
from tests.api.conftest import running_server
from tests.api.schema_check import SchemaCheck
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import burst

BEES = {"messages": [{"role": "user", "content": "I keep bees on the roof"}], "user_id": "ana"}
CHOIR = {"messages": [{"role": "user", "content": "I sing in a choir"}], "user_id": "ana"}


async def test_an_event_a_worker_stored_is_not_called_bypassed_while_redis_is_down(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    with LocalRedis(tmp_path / "redis") as redis:
        settings = pipeline_settings(tmp_path / "m.db", redis.url, "wd:")
        with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
            check = SchemaCheck.served_by(c)
            assert c.post("/v1/memories", json={**BEES, "event_id": "q-1"}).status_code == 202
            assert (await burst(settings, embedder)).processed == 1
            assert c.get("/v1/events/q-1").json()["status"] == "done"  # Redis's record

            redis.stop()
            await asyncio.sleep(RETRY_AFTER_S + 0.3)  # whatever the server last heard of Redis
            down = c.post("/v1/memories", json={**CHOIR, "event_id": "s-1"})
            assert down.status_code == 200 and down.json()["pipeline"] == "bypassed", down.text

            queued = check(c.get("/v1/events/q-1"), "/v1/events/{event_id}")
            assert (queued["status"], queued.get("pipeline")) == ("done", None), queued  # was "bypassed"
            assert "result" not in queued and queued["finished_at"]
            synced = check(c.get("/v1/events/s-1"), "/v1/events/{event_id}")
            assert (synced["status"], synced["pipeline"]) == ("done", "bypassed"), synced  # as before
