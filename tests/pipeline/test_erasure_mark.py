"""A user's deletion as the queue marks it and as the store marks it: one boundary, the queue's mark.

``DELETE /v1/users/{id}`` marks the deletion in Redis (on Redis's clock) and erases what is queued,
then deletes from the store, whose own mark came later, on the server's clock. Workers keep an event
the queue took after the Redis mark (it is a new one), but the store refused it, as made before its
later mark: adds sent while a deletion ran were answered 202, then ended ``done`` with
``skipped: its user was deleted after it was queued`` and nothing stored (41 such adds in a review,
enqueued 26-288 ms after the mark while the sweep of a backlog ran). The store now compares an event
the queue took with the queue's mark, on the queue's clock; an event enqueued before the mark that a
worker held past its checks still leaves nothing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import redis

from memoryd import AsyncMemory, Settings, load_settings
from memoryd.config import DEFAULT_TENANT
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import EventErasedError
from memoryd.pipeline import Pipeline
from memoryd.pipeline.keys import Keys
from memoryd.pipeline.local_redis import LocalRedis
from memoryd.storage.events import AppliedEvent, applying_events
from tests.api.conftest import running_server
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import burst, stored, wait_until, worker_over
from tests.pipeline.test_erasure_backlog import entry

SWEPT = 800_000  # dead letters: their sweep takes a deletion seconds
_DEAD_LETTERS = "for i = 1, tonumber(ARGV[1]) do redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2)) end"


def _texts(c: httpx.Client, user: str) -> list[str]:
    return [m["text"] for m in c.get("/v1/memories", params={"user_id": user}).json()["results"]]


async def test_adds_queued_after_the_deletions_mark_while_it_runs_are_stored(
    psettings: Settings, embedder: USEEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: dict[str, int] = {}
    with running_server(psettings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        before = {"messages": "I live in Porto", "user_id": "ana", "event_id": "before-1"}
        assert c.post("/v1/memories", json=before).status_code == 202
        real = Pipeline.forget_user

        async def sweeping(self: Pipeline, tenant: str, user_id: str | None, *more: Any) -> Any:
            mark = await real(self, tenant, user_id, *more)

            def post(n: int) -> None:  # another client, while the deletion is still running
                add = {"messages": f"I visited Oslo ({n})", "user_id": "ana", "event_id": f"after-{n}"}
                with httpx.Client(base_url=server.url, timeout=30) as other:
                    sent[f"after-{n}"] = other.post("/v1/memories", json=add).status_code

            for n in range(3):  # the sweep of a long backlog takes a while: adds arrive meanwhile
                await asyncio.to_thread(post, n)
                await asyncio.sleep(0.03)
            return mark

        monkeypatch.setattr(Pipeline, "forget_user", sweeping)
        r = c.delete("/v1/users/ana")
        assert r.status_code == 200, r.text
        assert sent == {"after-0": 202, "after-1": 202, "after-2": 202}  # queued after the mark
        report = await burst(psettings, embedder)
        assert report.processed == 3 and report.dead_lettered == 0
        for n in range(3):
            event = c.get(f"/v1/events/after-{n}").json()
            assert event["status"] == "done" and "skipped" not in event["result"], event
        assert sorted(_texts(c, "ana")) == [f"I visited Oslo ({n})" for n in range(3)]
        assert c.get("/v1/events/before-1").status_code == 404  # queued before it: erased with her


def dead_letters(client: redis.Redis, ns: str, count: int) -> None:
    """``count`` dead letters of another user on ``ns``'s dead-letter stream, written by Redis itself
    (a script's loop: as many XADDs sent from here would take longer than their sweep)."""
    seconds, micros = client.time()
    at = int(seconds) * 1000 + int(micros) // 1000 - 60_000
    fields = {**entry(0, at), "dlq_error": "{}", "dlq_attempts": "5", "dlq_stream_id": f"{at}-0"}
    flat = [x for pair in fields.items() for x in pair]
    for _ in range(count // 100_000):
        client.eval(_DEAD_LETTERS, 1, f"{ns}:dlq", 100_000, *flat)


async def test_an_add_a_worker_stores_while_the_sweep_of_a_backlog_runs_is_kept(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    """The store was erased after the queue's sweep: an add queued after the mark that a live worker
    stored while a long sweep ran was answered done (ADD), then erased with the user's memories.
    The sweep is a real one here, of a backlog of dead letters that takes it seconds; the add is sent
    once the deletion's mark is in Redis, and a live worker stores it while the sweep runs."""
    with LocalRedis(tmp_path / "redis", appendonly=False) as local:
        settings = pipeline_settings(tmp_path / "m.db", local.url, "sweep:")
        client = redis.Redis.from_url(local.url, decode_responses=True)
        mark = Keys.of(settings.pipeline).forgotten(DEFAULT_TENANT, "ana")
        try:
            dead_letters(client, settings.pipeline.ns, SWEPT)
            with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=60) as c:
                before = {"messages": "I live in Porto", "user_id": "ana", "event_id": "before-1"}
                assert c.post("/v1/memories", json=before).status_code == 202
                await burst(settings, embedder)
                assert "I live in Porto" in _texts(c, "ana")
                deletion: dict[str, Any] = {}

                def delete() -> None:  # another client
                    deletion["response"] = httpx.delete(f"{server.url}/v1/users/ana", timeout=120)

                async with worker_over(settings, embedder) as worker:  # a live worker, ready
                    thread = threading.Thread(target=delete)
                    thread.start()
                    try:
                        await wait_until(lambda: asyncio.to_thread(client.exists, mark), what="the mark")
                        await asyncio.sleep(0.3)  # the store's own erasure, right after the mark, is done
                        add = {"messages": "I visited Oslo", "user_id": "ana", "event_id": "after-0"}
                        assert c.post("/v1/memories", json=add).status_code == 202  # after the mark
                        report = await asyncio.wait_for(worker.run(burst=True), timeout=60)  # stores it
                        assert thread.is_alive(), "the sweep ended before the worker stored the add"
                    finally:
                        await asyncio.to_thread(thread.join)
                assert report.processed == 1 and report.dead_lettered == 0
                assert deletion["response"].status_code == 200, deletion["response"].text
                event = c.get("/v1/events/after-0").json()
                assert event["status"] == "done" and "skipped" not in event["result"], event
                assert _texts(c, "ana") == ["I visited Oslo"]  # queued after the mark: a new add, kept
                assert c.get("/v1/events/before-1").status_code == 404  # queued before it: erased
        finally:
            client.close()


class Held:
    """The real embedder, whose call for one text waits until released (a worker busy with it)."""

    def __init__(self, inner: USEEmbedder, text: str) -> None:
        self.inner, self.name, self.dim, self.text = inner, inner.name, inner.dim, text
        self.entered, self.release = threading.Event(), threading.Event()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if any(self.text in t for t in texts) and not self.entered.is_set():
            self.entered.set()
            self.release.wait(30)
        return self.inner.embed(texts)


async def test_an_event_a_worker_held_past_its_checks_when_its_user_was_deleted_stores_nothing(
    psettings: Settings, embedder: USEEmbedder
) -> None:
    with running_server(psettings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        add = {"messages": "I live in Porto", "user_id": "ana", "event_id": "held-1"}
        assert c.post("/v1/memories", json=add).status_code == 202
        held = Held(embedder, "Porto")
        deleted: dict[str, int] = {}

        def delete() -> None:  # while the worker embeds the event, past its checks of the queue's mark
            if held.entered.wait(30):
                deleted["status"] = httpx.delete(f"{server.url}/v1/users/ana", timeout=30).status_code
            held.release.set()

        async with worker_over(psettings, held) as worker:
            thread = threading.Thread(target=delete)
            thread.start()
            report = await asyncio.wait_for(worker.run(burst=True), timeout=60)
            await asyncio.to_thread(thread.join)
        assert deleted == {"status": 200}
        assert report.processed == 1 and report.dead_lettered == 0
        assert c.get("/v1/events/held-1").status_code == 404  # nothing of it recorded either
    assert stored(psettings.storage.path) == Counter()


async def test_the_store_compares_a_marked_deletion_on_the_queues_clock_and_a_later_one_on_its_own(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "m.db")}})
    memory = await AsyncMemory(settings, embedder=embedder).open()
    now = time.time()

    def at(seconds: float) -> datetime:
        return datetime.fromtimestamp(now + seconds, UTC)

    async def apply(event_id: str, *, enqueued_ms: int | None, made: float) -> bool:
        """Whether the store takes an add of ana's event (enqueued at ``enqueued_ms`` on the queue's
        clock, ``made`` s from now on this host's)."""
        event = AppliedEvent(
            event_id, event_id, user_id="ana", created_at=now + made, enqueued_ms=enqueued_ms
        )
        try:
            with applying_events([event]):
                await memory.add(f"note {event_id}", user_id="ana")
        except EventErasedError:
            return False
        return True

    try:
        # The queue's clock is its own: its mark (5,000 ms) says nothing of this host's time.
        await memory.storage.records.mark_erased("ana", at(0), 5_000)
        assert not await apply("e1", enqueued_ms=5_000, made=+60)  # at the mark: before it
        assert await apply("e2", enqueued_ms=5_001, made=-60)  # after it: new, whatever the host says
        # A deletion since without the queue (no mark of its own) is compared on this host's clock.
        await memory.storage.records.mark_erased("ana", at(10))
        assert not await apply("e3", enqueued_ms=6_000, made=9)
        assert await apply("e4", enqueued_ms=6_001, made=11)
        # A marked one again: the queue's clock decides once more.
        await memory.storage.records.mark_erased("ana", at(20), 7_000)
        assert not await apply("e5", enqueued_ms=6_999, made=30)
        assert await apply("e6", enqueued_ms=7_001, made=15)
        # An event the queue did not time (no enqueued_ms) goes by this host's clock.
        assert not await apply("e7", enqueued_ms=None, made=19)
    finally:
        await memory.close()
