"""A deletion (or a reset) begins with the store's own mark: from its commit the user's events are
refused by the store and skipped by workers at once, and a failure after it leaves the deletion begun.

Before, the queue's mark was placed in Redis only after the whole store erasure. So (1) when the
erasure failed after the store's first write (its mark: a disk with room for that write only), the
deletion answered 503 "disk is full", nothing of the user's was erased and their queued events
still read ``queued``, yet the store refused each of them for good: answered 202, dropped as
``done``/skipped, said nowhere. And (2) while the store was being erased (chunked deletes, the
FTS merge, the WAL's truncation: seconds), workers went on running the user's queued events,
sending their messages to the LLM for the store to refuse the write. Now the deletion is marked in
Redis as soon as the store's mark is committed (workers skip those events from then on), and a
failure after that mark sweeps the queue as well and answers 503 saying the deletion has begun
and to send it again, which finishes it. The disk is a real one (a small tmpfs, filled up by a
file), the erasure is held by a real reader of the store, the server answers real HTTP.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path

import httpx
import pytest

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import LocalRedis
from tests.api.conftest import running_server
from tests.fakes.llm_server import Script
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import burst, stored, wait_until
from tests.pipeline.test_store_refuses_writes import fill, small_disk

_PAGE = 4096
_ROOM = 24  # pages freed on the full disk: the store's mark fits (~5), erasing 40 memories does not


@pytest.mark.parametrize(("method", "route"), [("DELETE", "/v1/users/ana"), ("POST", "/v1/reset")])
async def test_a_deletion_failing_after_the_stores_mark_has_begun_and_its_retry_finishes_it(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder, method: str, route: str
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        settings = pipeline_settings(disk / "m.db", redis_server.url, prefix)
        async with AsyncMemory(settings, embedder=embedder) as memory:
            for n in range(40):
                await memory.add(f"My cousin number {n} lives in town {n}", user_id="ana", mode="fast")
        with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=60) as c:
            queued = {"messages": "My dog is called Rex", "user_id": "ana", "event_id": "queued-1"}
            assert c.post("/v1/memories", json=queued).status_code == 202

            filler = fill(disk)
            os.truncate(filler, os.path.getsize(filler) - _ROOM * _PAGE)  # room for a few pages
            failed = c.request(method, route)
            assert failed.status_code == 503, failed.text
            os.remove(filler)  # the disk has room again
            # The store refuses ana's queued event for good: it is not left reading "queued" (to be
            # dropped unsaid later); the deletion swept it, and the 503 says so.
            gone = c.get("/v1/events/queued-1")
            assert gone.status_code == 404, gone.text
            message = failed.json()["error"]["message"]
            assert "disk is full" in message and "the erasure has begun" in message, message
            assert "send it again to finish it" in message, message

            again = c.request(method, route)  # sent again, the deletion finishes
            assert again.status_code == 200, again.text
            assert c.get("/v1/memories", params={"user_id": "ana"}).json()["results"] == []
            report = await burst(settings, embedder)
            assert report.processed == 0 and report.dead_lettered == 0
        assert not [text for user, text in stored(settings.storage.path) if user == "ana"]


async def test_once_a_deletion_has_begun_workers_send_none_of_the_users_queued_events_to_the_llm(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder, fake_llm: Script
) -> None:
    llm = {"llm": {"provider": "openai", "base_url": fake_llm.base_url, "api_key": "k", "model": "m"}}
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, llm)
    fake_llm.default_json({"facts": []})
    async with AsyncMemory(settings, embedder=embedder) as memory:
        for n in range(5):
            await memory.add(f"My cousin number {n} lives in town {n}", user_id="ana", mode="fast")
    with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=60) as c:
        for user, said in (("ana", _ANA), ("bob", _BOB)):
            body = {"messages": said, "user_id": user, "mode": "fine", "event_id": f"{user}-1"}
            assert c.post("/v1/memories", json=body).status_code == 202

        # A reader of the store holds the deletion's last step (emptying the WAL waits for readers)
        reader = sqlite3.connect(settings.storage.path, isolation_level=None)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM memories").fetchone()
            deleting = asyncio.create_task(asyncio.to_thread(_delete, server.url, "ana"))
            await wait_until(lambda: _erased(settings.storage.path), what="ana's memories to be erased")
            assert not deleting.done()  # the deletion has begun, and is still held

            await burst(settings, embedder)  # a worker meanwhile: bob's event runs, ana's is skipped
            said = [json.dumps(r.json) for r in fake_llm.requests]
            assert any(_BOB in text for text in said), said
            assert not any(_ANA in text for text in said), said  # nothing of ana's went to the LLM
        finally:
            reader.close()  # the deletion goes on
        assert (await deleting) == 200
        assert c.get("/v1/events/ana-1").status_code == 404
        assert c.get("/v1/events/bob-1").json()["status"] == "done"
    assert not [text for user, text in stored(settings.storage.path) if user == "ana"]


_ANA = "I moved to Porto last spring and I work as a nurse there."
_BOB = "I moved to Braga last winter and I teach maths there."


def _delete(url: str, user: str) -> int:
    with httpx.Client(base_url=url, timeout=60) as c:
        return c.delete(f"/v1/users/{user}").status_code


async def _erased(db: Path) -> bool:
    """Whether ana's memories are gone from the store (the deletion's writes are committed)."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM memories WHERE user_id = 'ana'").fetchone()[0] == 0
    finally:
        conn.close()
