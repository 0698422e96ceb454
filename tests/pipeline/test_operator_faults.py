"""What an operator runs into, against a real Redis and a real store: an entry that is not
UTF-8, an event id reused by another user or for another body, ``dlq replay --id`` of an id
that is not there."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
import redis.asyncio as aioredis

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import ConflictError
from memoryd.pipeline import SCHEMA_VERSION, EventQueue, EventStatus, PipelineEvent, build_queue
from memoryd.pipeline.base import Outcome
from memoryd.pipeline.local_redis import LocalRedis
from tests.api.conftest import error_of, running_server
from tests.auth.conftest import bearer, new_key
from tests.pipeline.conftest import PipelineCli, doc, pipeline_settings
from tests.pipeline.helpers import burst, producer, stored, turn, wait_until


async def test_an_entry_that_is_not_utf8_is_dead_lettered_and_the_rest_of_its_batch_is_stored(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue, redis_server: LocalRedis
) -> None:
    raw = aioredis.Redis.from_url(redis_server.url)  # an external producer writing bytes
    try:
        async with producer(psettings, embedder) as (pipeline, memory):
            await pipeline.submit_add(memory, turn("ana", 1), event_id="good-1")
            bad = {k: v.encode() for k, v in PipelineEvent("bad-1", turn("bo", 2)).to_fields().items()}
            bad["payload"] = bad["payload"].replace(b"says", b"s\xffys")
            await raw.xadd(queue.keys.stream, bad)  # type: ignore[arg-type]
            await pipeline.submit_add(memory, turn("cy", 3), event_id="good-2")

            report = await asyncio.wait_for(burst(psettings, embedder), timeout=30)
            assert (report.processed, report.dead_lettered) == (2, 1)
            assert (await pipeline.event("good-1")).status is EventStatus.DONE
            assert (await pipeline.event("good-2")).status is EventStatus.DONE
            failed = await pipeline.event("bad-1")
            assert failed.status is EventStatus.DEAD_LETTERED
            assert failed.error is not None and failed.error["field"] == "event.payload"
        (letter,) = await raw.xrange(queue.keys.dlq)
        assert b"s\xffys" in letter[1][b"payload"]  # the dead letter keeps the entry's own bytes
        stats = await queue.stats()
        assert (stats.pending, stats.stream_length, stats.dlq_size) == (0, 0, 1)
    finally:
        await raw.aclose()
    assert set(stored(psettings.storage.path)) == {
        ("ana", "ana says fact number 1.0 about the hills"),
        ("cy", "cy says fact number 3.0 about the sea"),
    }


async def test_an_event_id_reused_for_another_body_is_a_conflict_and_a_users_ids_are_its_own(
    psettings: Settings, embedder: USEEmbedder
) -> None:
    alice = bearer(new_key(psettings, "user", tenant="acme", user_id="alice"))
    bob = bearer(new_key(psettings, "user", tenant="acme", user_id="bob"))
    service = bearer(new_key(psettings, "service", tenant="acme"))
    with running_server(psettings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        secret = {"messages": "My bank PIN is 4321", "event_id": "e-1"}
        assert c.post("/v1/memories", json=secret, headers=alice).status_code == 202
        assert (await burst(psettings, embedder)).processed == 1

        retry = c.post("/v1/memories", json=secret, headers=alice)  # the same add: a NOOP
        assert retry.status_code == 200 and retry.json()["event"] == "NOOP"
        assert retry.json()["record"]["status"] == "done"

        # Another user's key: "e-1" is an id of its own, so nothing tells bob that alice used it
        error_of(c.get("/v1/events/e-1", headers=bob), 404)
        theirs = c.post("/v1/memories", json={"messages": "hello", "event_id": "e-1"}, headers=bob)
        assert theirs.status_code == 202 and "4321" not in theirs.text
        mem0 = c.post("/memories", json={"messages": "hello", "event_id": "e-1"}, headers=bob)
        assert mem0.status_code == 409 and "4321" not in mem0.text  # another add (mode) of his own id
        # ... nor can a user take first an id another user's add will use
        squat = c.post("/v1/memories", json={"messages": "squat", "event_id": "bob-turn-2"}, headers=alice)
        assert squat.status_code == 202
        for_bob = {"messages": "bob: I moved to Rome", "user_id": "bob", "event_id": "bob-turn-2"}
        assert c.post("/v1/memories", json=for_bob, headers=service).status_code == 202
        assert c.get("/v1/events/bob-turn-2", headers=bob).json()["status"] == "queued"  # given for him
        assert (await burst(psettings, embedder)).processed == 3

        other = c.post("/v1/memories", json={"messages": "My PIN is 9999", "event_id": "e-1"}, headers=alice)
        assert other.status_code == 409  # not silently dropped as a duplicate of the first add
        assert c.get("/v1/events/e-1", headers=alice).json()["status"] == "done"
        assert (await burst(psettings, embedder)).processed == 0  # nothing was queued by the conflicts
        listed = c.get("/v1/memories", params={"user_id": "alice"}, headers=alice).json()
        assert [m["memory"] for m in listed["results"]] == ["squat", "My bank PIN is 4321"]


def test_dlq_replay_of_an_id_not_in_the_dlq_fails_and_moves_nothing(
    pipeline_cli: Callable[..., PipelineCli],
) -> None:
    cli = pipeline_cli()
    settings, run = cli.settings, cli.run

    async def one_dead_letter() -> str:
        queue = build_queue(settings.pipeline)
        try:
            client = queue.client  # type: ignore[attr-defined]
            event = PipelineEvent("e-1", turn("ana", 1)).to_fields()
            return str(await client.xadd(queue.keys.dlq, {**event, "dlq_attempts": "1"}))
        finally:
            await queue.close()

    known = asyncio.run(one_dead_letter())
    for args in (["--id", "1-1"], ["--id", known, "--id", "1-1"], ["--dry-run", "--id", "1-1"]):
        refused = run("dlq", "replay", *args, "--json")
        assert refused.exit_code == 1, refused.stdout
        assert "1-1" in refused.stderr and doc(refused)["error"]["code"] == "not_found"
    assert [d["dlq_id"] for d in doc(run("dlq", "list", "--json"))["results"]] == [known]  # nothing moved
    moved = doc(run("dlq", "replay", "--id", known, "--json"))
    assert moved["replayed"] == 1
    gone = run("dlq", "replay", "--id", known, "--json")  # replayed already: not a second success
    assert gone.exit_code == 1 and "nothing replayed" in gone.stderr


async def test_a_dead_letter_replayed_after_its_status_expired_is_its_users_again(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    short = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, result_ttl_s=1)
    async with producer(short, embedder) as (pipeline, memory):
        queue = pipeline.queue
        unreadable = PipelineEvent("chat-7", turn("bo", 7), version=SCHEMA_VERSION + 2)
        fine = PipelineEvent("chat-42", replace(turn("ana", 1), mode="fine"))  # no LLM here: a dead letter
        for event in (fine, unreadable):
            assert (await queue.enqueue(event)).created
        assert (await burst(short, embedder)).dead_lettered == 2
        await wait_until(lambda: _expired(queue, "chat-42", "chat-7"), timeout=10, what="statuses expiring")

        assert len((await queue.dlq_replay(await queue.dlq_list(10))).stream_ids) == 2
        record = await pipeline.event("chat-42", user_id="ana")  # what ana's user key asks
        assert record.status is EventStatus.QUEUED and record.source == "api"
        assert (await pipeline.event("chat-7", user_id="bo")).status is EventStatus.QUEUED
        # bo's client retries its add: the same add again, so a NOOP (not a conflict)
        again = await pipeline.submit_add(memory, unreadable.payload, event_id="chat-7")
        assert again.duplicate and again.status is EventStatus.QUEUED


async def _expired(queue: EventQueue, *event_ids: str) -> bool:
    return [await queue.status(e) for e in event_ids] == [None] * len(event_ids)


async def test_lag_is_reported_while_workers_finish_their_batches_out_of_order(queue: EventQueue) -> None:
    for n in range(12):
        assert (await queue.enqueue(PipelineEvent(f"e-{n}", turn("ana", n)))).created
    await queue.ensure_group()
    slow = await queue.read("slow", 5, None)  # still working on its batch
    fast = await queue.read("fast", 5, None)
    assert len(slow) == len(fast) == 5
    await queue.finish([Outcome("ack", d) for d in fast], "fast", 3600)  # done first: acked, deleted
    stats = await queue.stats()
    assert (stats.stream_length, stats.pending, stats.lag) == (7, 5, 2)  # two never delivered
    assert await queue.outstanding() == 7


async def test_a_stalled_workers_keepalive_leaves_an_entry_another_worker_reclaimed(queue: EventQueue) -> None:
    for n in range(2):
        assert (await queue.enqueue(PipelineEvent(f"k-{n}", turn("ana", n)))).created
    await queue.ensure_group()
    mine, taken = await queue.read("a", 2, None)
    begun = await queue.begin([("k-0", 1, mine.stream_id, ""), ("k-1", 1, taken.stream_id, "")], "a", 60_000)
    assert [b.state for b in begun] == ["claimed", "claimed"]
    # Worker a stalls: k-1's lease runs out, and worker b reclaims its entry and takes its lock.
    await queue.client.xclaim(queue.keys.stream, queue.config.group, "b", 0, [taken.stream_id], justid=True)
    await queue.client.set(queue.keys.lock("k-1"), "b", px=60_000)

    await queue.keepalive("a", [mine.stream_id, taken.stream_id], ["k-0", "k-1"], 120_000)  # a wakes up

    owners = {row["message_id"]: row["consumer"] for row in await queue.client.xpending_range(
        queue.keys.stream, queue.config.group, min="-", max="+", count=10)}  # fmt: skip
    assert owners == {mine.stream_id: "a", taken.stream_id: "b"}  # b keeps what it reclaimed
    assert await queue.client.get(queue.keys.lock("k-1")) == "b"
    assert await queue.client.pttl(queue.keys.lock("k-0")) > 60_000  # a's own lease was extended


async def test_an_event_queued_longer_than_result_ttl_is_still_known_until_it_ends(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    short = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, result_ttl_s=1)
    async with producer(short, embedder) as (pipeline, memory):
        first = await pipeline.submit_add(memory, turn("ana", 1), event_id="slow-1")
        assert first.accepted and first.status is EventStatus.QUEUED
        await asyncio.sleep(2.5)  # no worker runs: the event waits longer than result_ttl_s
        assert (await pipeline.event("slow-1")).status is EventStatus.QUEUED
        # kept long while unfinished, yet not forever (an entry deleted from the stream by hand)
        keep = await pipeline.queue.client.pttl(pipeline.queue.keys.status("slow-1"))
        assert 29 * 86_400_000 < keep <= 30 * 86_400_000
        retry = await pipeline.submit_add(memory, turn("ana", 1), event_id="slow-1")
        assert retry.duplicate and retry.status is EventStatus.QUEUED  # the client's retry: a NOOP
        try:
            other = await pipeline.submit_add(memory, turn("ana", 2), event_id="slow-1")
        except ConflictError:
            pass
        else:
            raise AssertionError(f"another add under a queued event's id was taken: {other}")
        assert (await pipeline.queue.stats()).stream_length == 1
        assert (await burst(short, embedder)).processed == 1
        assert (await pipeline.event("slow-1")).status is EventStatus.DONE
        await wait_until(lambda: _expired(pipeline.queue, "slow-1"), timeout=10, what="the ended event expiring")
    assert stored(short.storage.path) == Counter({("ana", "ana says fact number 1.0 about the hills"): 1})


async def test_an_enqueue_sent_again_after_a_lost_answer_is_still_this_submissions(queue: EventQueue) -> None:
    # The client library sends the script again when Redis answered too late: the second run finds
    # the first one's record, and the add is reported queued (not a duplicate of itself).
    event = PipelineEvent("twice-1", turn("ana", 1))
    keys, args = queue._enqueue_args(event)  # type: ignore[attr-defined]
    first = queue._enqueued(event.event_id, await queue._enqueue(keys=keys, args=args))  # type: ignore[attr-defined]
    again = queue._enqueued(event.event_id, await queue._enqueue(keys=keys, args=args))  # type: ignore[attr-defined]
    assert first.created and again.created and first.stream_id == again.stream_id
    other = await queue.enqueue(event)  # another submission of the same event: a duplicate
    assert not other.created and other.existing is not None
    assert (await queue.stats()).stream_length == 1


async def test_an_event_id_reused_after_its_status_expired_is_a_new_add_and_stored(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    short = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, result_ttl_s=1)
    async with producer(short, embedder) as (pipeline, memory):
        assert (await pipeline.submit_add(memory, turn("ana", 1), event_id="chat-42")).accepted
        assert (await burst(short, embedder)).processed == 1
        await wait_until(lambda: _expired(pipeline.queue, "chat-42"), timeout=10, what="the status expiring")
        again = await pipeline.submit_add(memory, turn("bob", 1), event_id="chat-42")  # another user's now
        assert again.accepted
        assert (await burst(short, embedder)).processed == 1
        record = await pipeline.event("chat-42")
        assert record.status is EventStatus.DONE and "skipped" not in str(record.result)
    assert stored(short.storage.path) == Counter(
        {("ana", "ana says fact number 1.0 about the hills"): 1, ("bob", "bob says fact number 1.0 about the hills"): 1}
    )


async def test_the_longest_event_id_a_user_key_may_give_is_processed(
    psettings: Settings, embedder: USEEmbedder
) -> None:
    longest = "a" * 128  # what check_event_id allows; stored behind the user's 19-character prefix
    async with producer(psettings, embedder) as (pipeline, memory):
        assert (await pipeline.submit_add(memory, turn("alice", 1), event_id=longest, owner="alice")).accepted
        report = await burst(psettings, embedder)
        assert (report.processed, report.dead_lettered) == (1, 0)
        assert (await pipeline.event(longest, user_id="alice")).status is EventStatus.DONE
