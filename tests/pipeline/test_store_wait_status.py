"""An event waiting on a store that refuses writes reads ``queued``, with the store's error, not ``failed``.

A full disk under the store is an outage: the worker uses up no attempt of the event's, and puts it
back to wait. Its status record said ``failed`` all the same (``attempts: 1``), as for an attempt that
failed, although nothing of the event's own had. Now it reads ``queued`` while it waits, its
``error`` the store's and ``retry_at`` when it runs again, and ``done`` once the disk has room. The
disk is a real one: a small tmpfs holding the store, filled up by a file, then freed.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx

from memoryd import AsyncMemory, Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import LocalRedis
from tests.api.conftest import running_server
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import wait_until, worker_over
from tests.pipeline.test_store_refuses_writes import fill, small_disk


async def test_an_event_waiting_on_a_full_disk_reads_queued_with_the_stores_error(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        settings = pipeline_settings(disk / "m.db", redis_server.url, prefix, max_attempts=1)
        async with AsyncMemory(settings, embedder=embedder):
            pass  # the store, created
        with running_server(settings, embedder) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
                await _wait_then_store(settings, embedder, c, disk)


async def _wait_then_store(
    settings: Settings, embedder: USEEmbedder, c: httpx.AsyncClient, disk: Path
) -> None:
    add = {"messages": "I live in Porto", "user_id": "ana", "event_id": "wait-1"}
    assert (await c.post("/v1/memories", json=add)).status_code == 202
    filler = fill(disk)
    async with worker_over(settings, embedder) as worker:
        running = asyncio.create_task(worker.run())
        try:

            seen: dict[str, Any] = {}

            async def waited() -> bool:  # put back twice on the store's outage, and not running now
                seen.update((await c.get("/v1/events/wait-1")).json())
                outages = (seen.get("error") or {}).get("outages", 0)
                return bool(outages >= 2 and seen["status"] != "processing")

            await wait_until(waited, what="the event to wait on the store")
            body = dict(seen)
            assert body["status"] == "queued", body  # waiting: no attempt of its failed
            assert "disk is full" in body["error"]["message"], body
            assert body["attempts"] == 1 and "retry_at" in body, body

            os.remove(filler)  # the disk has room again

            async def done() -> bool:
                return (await c.get("/v1/events/wait-1")).json()["status"] == "done"

            await wait_until(done, what="the event to be stored once the disk had room")
        finally:
            worker.stop()
            report = await asyncio.wait_for(running, timeout=30)
    assert report.dead_lettered == 0 and report.processed == 1
    body = (await c.get("/v1/events/wait-1")).json()
    assert (body["status"], body["attempts"]) == ("done", 1) and "error" not in body, body
