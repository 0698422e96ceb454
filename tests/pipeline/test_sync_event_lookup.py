"""``GET /v1/events/{id}`` of an add the synchronous path applied (Redis down, ``on_unavailable =
"sync"``): the store knows it, so it is done (``"pipeline": "bypassed"``, no result: the store keeps
none), while Redis is down. Before, the lookup was a 503, while the same add again was a NOOP
"applied already" and another under its id a 409. An id the store does not know is still a 503 with
Redis down (Redis may hold it); a user key sees only its own user's ids; after ``result_ttl_s`` the
id is forgotten (404) as an ended event's status is. Once Redis answers, its record alone answers
(a 404 for these: the store's record may be of an erased user's event, tests/pipeline/test_erasure_mark.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from memoryd.embedders.use import USEEmbedder
from memoryd.errors import StorageError
from memoryd.memory import AsyncMemory
from memoryd.pipeline import AddPayload, EventStatus
from memoryd.pipeline.local_redis import LocalRedis, free_port
from memoryd.pipeline.producer import RETRY_AFTER_S
from tests.api.conftest import running_server
from tests.api.schema_check import SchemaCheck
from tests.auth.conftest import bearer, new_key
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import producer

BEES = {"messages": [{"role": "user", "content": "I keep bees on the roof"}], "user_id": "ana"}


def _done_synchronously(answer: httpx.Response, event_id: str, check: SchemaCheck) -> None:
    body = check(answer, "/v1/events/{event_id}")  # as /openapi.json declares it
    assert (body["event_id"], body["status"], body["pipeline"]) == (event_id, "done", "bypassed"), body
    assert "result" not in body and body["finished_at"]


async def test_an_add_applied_synchronously_is_done_while_redis_is_down(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    with LocalRedis(tmp_path / "redis") as redis:
        settings = pipeline_settings(tmp_path / "m.db", redis.url, "sync-ev:")
        service = bearer(new_key(settings, "service"))
        alice = bearer(new_key(settings, "user", user_id="alice"))
        bob = bearer(new_key(settings, "user", user_id="bob"))
        with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
            check = SchemaCheck.served_by(c)
            redis.stop()
            down = c.post("/v1/memories", json={**BEES, "event_id": "ord-7"}, headers=service)
            assert down.status_code == 200 and down.json()["pipeline"] == "bypassed", down.text
            mine = c.post(
                "/v1/memories", json={"messages": "I sing in a choir", "event_id": "m-1"}, headers=alice
            )
            assert mine.status_code == 200 and mine.json()["pipeline"] == "bypassed", mine.text

            _done_synchronously(
                c.get("/v1/events/ord-7", headers=service), "ord-7", check
            )  # Redis still down
            _done_synchronously(c.get("/v1/events/m-1", headers=alice), "m-1", check)
            _done_synchronously(
                c.get("/v1/events/m-1", params={"user_id": "alice"}, headers=service), "m-1", check
            )
            assert c.get("/v1/events/never", headers=service).status_code == 503  # Redis may know it
            assert c.get("/v1/events/m-1", headers=bob).status_code == 503  # nothing of alice's ids
            again = c.post("/v1/memories", json={**BEES, "event_id": "ord-7"}, headers=service)
            assert (again.status_code, again.json()["event"]) == (200, "NOOP")

            redis.start()
            await asyncio.sleep(RETRY_AFTER_S + 0.3)  # the server tries Redis again after that
            assert (
                c.post("/v1/memories", json={**BEES, "event_id": "new-1"}, headers=service).status_code == 202
            )
            assert c.get("/v1/events/ord-7", headers=service).status_code == 404  # Redis's word alone
            assert c.get("/v1/events/m-1", headers=alice).status_code == 404
            assert c.get("/v1/events/m-1", headers=bob).status_code == 404
            assert c.get("/v1/events/m-1", headers=service).status_code == 404  # alice's own id, not this
            assert c.get("/v1/events/never", headers=service).status_code == 404
            queued = c.get("/v1/events/new-1", headers=service)
            assert queued.status_code == 200 and "pipeline" not in queued.json()  # Redis's record, as before


async def test_the_stores_record_is_forgotten_after_result_ttl_s(
    tmp_path: Path, prefix: str, embedder: USEEmbedder
) -> None:
    dead = pipeline_settings(tmp_path / "m.db", f"redis://127.0.0.1:{free_port()}/0", prefix, result_ttl_s=1)
    async with producer(dead, embedder) as (pipeline, memory):
        done = await pipeline.submit_add(memory, AddPayload(**BEES), event_id="ord-7")  # type: ignore[arg-type]
        assert done.pipeline == "bypassed"

        async def store() -> AsyncMemory:
            return memory

        record = await pipeline.event("ord-7", memory=store)
        assert (record.status, record.pipeline) == (EventStatus.DONE, "bypassed")
        await asyncio.sleep(1.3)  # result_ttl_s: Redis would have forgotten an ended event by now
        with pytest.raises(StorageError):  # unknown to the store: Redis may hold it, and is down
            await pipeline.event("ord-7", memory=store)
