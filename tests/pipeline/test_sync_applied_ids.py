"""An event id the synchronous path applied while Redis was down is known once Redis is back.

With Redis down an add is processed on the spot (200, ``"pipeline": "bypassed"``) and its event id
recorded in the store only: Redis never saw it. Sent again with another body once Redis answered,
the add was queued (202) and its worker replaced the store's record of the first one, when the same
request with Redis down was a 409. The store's record is now asked first for an id the client
gives: another body is a 409 naming ``event_id`` on both paths, the same body a NOOP, and as on the
queued path the id may name a new add once an ended event's status would have expired.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import pytest

from memoryd import AsyncMemory, load_settings
from memoryd.auth.bound import UserBoundMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import ConflictError, StorageError
from memoryd.pipeline import AddPayload, EventStatus
from memoryd.pipeline.events import stored_event_id
from memoryd.pipeline.local_redis import LocalRedis, free_port
from memoryd.pipeline.producer import RETRY_AFTER_S
from memoryd.storage.events import AppliedEvent, applying_events
from tests.api.conftest import running_server
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import burst, producer, stored

BEES = {"messages": [{"role": "user", "content": "I keep bees on the roof"}], "user_id": "ana"}
LISBON = {"messages": [{"role": "user", "content": "My sister lives in Lisbon"}], "user_id": "ana"}


async def test_another_add_under_an_id_applied_while_redis_was_down_is_refused_once_it_is_back(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    with LocalRedis(tmp_path / "redis") as redis:
        settings = pipeline_settings(tmp_path / "m.db", redis.url, "back:")
        with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
            redis.stop()
            down = c.post("/v1/memories", json={**BEES, "event_id": "ord-7"})
            assert down.status_code == 200 and down.json()["pipeline"] == "bypassed", down.text
            while_down = c.post("/v1/memories", json={**LISBON, "event_id": "ord-7"})
            assert while_down.status_code == 409 and while_down.json()["error"]["field"] == "event_id"

            redis.start()
            await asyncio.sleep(RETRY_AFTER_S + 0.3)  # the server tries Redis again after that
            assert c.post("/v1/memories", json={**LISBON, "event_id": "new-1"}).status_code == 202  # it is up
            other = c.post("/v1/memories", json={**LISBON, "event_id": "ord-7"})
            assert other.status_code == 409, other.text  # as it was while Redis was down
            error = other.json()["error"]
            assert error["field"] == "event_id" and "another add" in error["message"]
            assert "bees" not in other.text  # nothing of the add the id names
            mem0 = c.post("/memories", json={**LISBON, "event_id": "ord-7"})
            assert mem0.status_code == 409
            again = c.post("/v1/memories", json={**BEES, "event_id": "ord-7"})  # the client's retry
            assert again.status_code == 200, again.text
            body = again.json()
            assert (body["event"], body["status"]) == ("NOOP", "done")

            report = await burst(settings, embedder)
            assert (report.processed, report.dead_lettered) == (1, 0)  # new-1 only: nothing else queued
    assert stored(settings.storage.path) == {
        ("ana", "I keep bees on the roof"): 1,
        ("ana", "My sister lives in Lisbon"): 1,
    }


async def test_the_id_may_name_a_new_add_on_either_path_once_an_ended_events_status_would_have_expired(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    dead = pipeline_settings(tmp_path / "m.db", f"redis://127.0.0.1:{free_port()}/0", prefix, result_ttl_s=1)
    live = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, result_ttl_s=1)
    bees, lisbon = AddPayload(**BEES), AddPayload(**LISBON)  # type: ignore[arg-type]
    async with producer(dead, embedder) as (pipeline, memory):
        assert (await pipeline.submit_add(memory, bees, event_id="ord-7")).pipeline == "bypassed"
        with pytest.raises(ConflictError, match="another add"):
            await pipeline.submit_add(memory, lisbon, event_id="ord-7")
        await asyncio.sleep(1.3)  # result_ttl_s: Redis would have forgotten an ended event by now
        reused = await pipeline.submit_add(memory, lisbon, event_id="ord-7")
        assert (reused.pipeline, reused.duplicate, reused.status) == ("bypassed", False, EventStatus.DONE)
    async with producer(live, embedder) as (pipeline, memory):
        assert (await pipeline.submit_add(memory, lisbon, event_id="ord-7")).duplicate  # its add: a NOOP
        with pytest.raises(ConflictError):  # applied a moment ago
            await pipeline.submit_add(memory, AddPayload("I visited Oslo", user_id="ana"), event_id="ord-7")
        await asyncio.sleep(1.3)
        oslo = await pipeline.submit_add(
            memory, AddPayload("I visited Oslo", user_id="ana"), event_id="ord-7"
        )
        assert oslo.accepted  # queued, as an id Redis forgot is
        assert (await burst(live, embedder)).processed == 1
    assert stored(live.storage.path) == {
        ("ana", "I keep bees on the roof"): 1,
        ("ana", "My sister lives in Lisbon"): 1,
        ("ana", "I visited Oslo"): 1,
    }


async def test_a_user_bound_key_looks_up_only_its_own_users_event_ids(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "m.db")}})
    async with AsyncMemory(settings, embedder=embedder) as memory:
        ids = {user: stored_event_id("e-1", "acme", user) for user in ("alice", "bob")}
        for user, stored_id in ids.items():
            with applying_events([AppliedEvent(stored_id, f"digest-{user}")]):
                await memory.add(f"{user} keeps bees", user_id=user)
        alice = UserBoundMemory(memory, "alice")
        found = await alice.applied_event(ids["alice"])
        assert found is not None and found.digest == "digest-alice"
        assert await alice.applied_event(ids["bob"]) is None  # nothing of bob's ids, known or not
        assert (await memory.applied_event(ids["bob"])) is not None


def damage_applied_ids(db: Path) -> None:
    """Overwrite the pages of the store's table of applied event ids with garbage (a disk's damage)
    while the store is closed: every other table is whole, but reading that one fails (SQLite:
    "database disk image is malformed")."""
    conn = sqlite3.connect(db)
    try:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        roots = conn.execute("SELECT rootpage FROM sqlite_master WHERE tbl_name = 'applied_events'").fetchall()
    finally:
        conn.close()
    assert roots
    with db.open("r+b") as f:
        for (root,) in roots:
            f.seek((root - 1) * size)
            f.write(b"\xff" * size)


async def test_a_store_that_cannot_look_up_an_id_leaves_the_add_to_the_queue(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    """The look-up of a client's id in the store came first and unguarded: a store read failing (a
    disk error) made every add with an event_id fail while Redis was up and would have queued it."""
    with LocalRedis(tmp_path / "redis") as redis:
        settings = pipeline_settings(tmp_path / "m.db", redis.url, "lookup:")
        async with AsyncMemory(settings, embedder=embedder) as memory:
            await memory.add("I keep bees", user_id="bob")
        damage_applied_ids(tmp_path / "m.db")
        async with producer(settings, embedder) as (pipeline, memory):
            with pytest.raises(StorageError, match="malformed"):  # the store's read fails for real
                await memory.applied_event("x1")
            done = await pipeline.submit_add(memory, AddPayload("I like tea", user_id="ana"), event_id="x1")
            assert done.accepted and done.status is EventStatus.QUEUED, done
            again = await pipeline.submit_add(memory, AddPayload("I like tea", user_id="ana"), event_id="x1")
            assert again.duplicate and not again.accepted, again  # Redis still knows its ids
