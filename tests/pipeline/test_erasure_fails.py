"""A deletion (or a reset) whose erasure of the store fails leaves the user's queued events queued.

Before, the queue's mark of the deletion was placed in Redis before the store's erasure, and the
queue was swept even when that erasure failed: with the store's disk full, ``DELETE /v1/users/ana``
(and a reset) failed with 503 on the store's first write, nothing of ana's was erased, and yet every
event of hers queued before it was gone (its status too), although each had been answered 202. Now
the mark is placed, and the queue swept, only once the store's erasure has succeeded. The disk is a
real one: a small tmpfs holding the store, filled up by a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import LocalRedis
from tests.api.conftest import running_server
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import burst, stored
from tests.pipeline.test_store_refuses_writes import fill, small_disk


@pytest.mark.parametrize(("method", "route"), [("DELETE", "/v1/users/ana"), ("POST", "/v1/reset")])
async def test_a_deletion_whose_store_erasure_fails_drops_none_of_the_queued_events(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder, method: str, route: str
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        settings = pipeline_settings(disk / "m.db", redis_server.url, prefix)
        async with AsyncMemory(settings, embedder=embedder) as memory:
            await memory.add("I live in Porto", user_id="ana", mode="fast")  # stored before, and kept
        with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
            queued = {"messages": "My dog is called Rex", "user_id": "ana", "event_id": "queued-1"}
            assert c.post("/v1/memories", json=queued).status_code == 202

            filler = fill(disk)
            failed = c.request(method, route)
            assert failed.status_code == 503, failed.text  # the store refused the erasure's first write
            assert "disk is full" in failed.json()["error"]["message"], failed.text
            os.remove(filler)  # the disk has room again
            assert "I live in Porto" in _texts(c)  # nothing was erased

            # Nothing was erased: the event queued before the failed deletion is still queued...
            record = c.get("/v1/events/queued-1")
            assert record.status_code == 200 and record.json()["status"] == "queued", record.text
            report = await burst(settings, embedder)
            assert report.processed == 1 and report.dead_lettered == 0
            # ... and is stored, as it was answered when it was queued.
            event = c.get("/v1/events/queued-1").json()
            assert event["status"] == "done" and "skipped" not in event["result"], event
        texts = {text for user, text in stored(settings.storage.path) if user == "ana"}
        assert {"I live in Porto", "My dog is called Rex"} <= texts, texts


def _texts(c: httpx.Client) -> list[str]:
    return [m["text"] for m in c.get("/v1/memories", params={"user_id": "ana"}).json()["results"]]
