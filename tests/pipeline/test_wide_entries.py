"""Entries memoryd did not write, too wide for a Lua script to re-add whole (Lua unpacks at most
~8000 values), and a poisoned retry set: nothing is lost, nothing wedges the worker, and a step
that keeps failing is backed off from (a burst worker gives up)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import StorageError
from memoryd.pipeline import EventQueue, EventStatus, PipelineEvent
from memoryd.pipeline import worker as worker_module
from tests.pipeline.helpers import burst, stored, turn, worker_over

WIDE = 4100  # extra fields: 8200+ values, past Lua's unpack() limit
EXTRA_FIELDS = "extra_fields"  # events.EXTRA_FIELDS (literal: the test runs against older code too)


def _wide(event_id: str, payload: str, attempt: str = "1") -> dict[str, str]:
    fields = {"v": "2", "event_id": event_id, "type": "add", "attempt": attempt, "source": "ext", "payload": payload}
    fields.update({f"x{i}": "y" for i in range(WIDE)})
    return fields


async def test_a_wide_external_entry_that_cannot_be_read_is_dead_lettered_not_lost(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue
) -> None:
    client = queue.client  # type: ignore[attr-defined]
    await client.xadd(queue.keys.stream, _wide("wide-1", "{not json"))
    report = await burst(psettings, embedder)
    assert report.dead_lettered == 1

    (letter,) = await queue.dlq_list(10)
    assert letter.event_id == "wide-1" and letter.fields["payload"] == "{not json"
    assert "not JSON" in letter.error["message"]
    extra = json.loads(letter.fields[EXTRA_FIELDS])  # the fields no version of memoryd writes, capped
    assert extra["count"] == WIDE and 0 < len(extra["fields"]) < WIDE and extra["fields"]["x0"] == "y"
    assert len(letter.fields) < 20  # its known fields, and that one
    record = await queue.status("wide-1")
    assert record is not None and record.status is EventStatus.DEAD_LETTERED and record.dlq_id == letter.dlq_id
    assert (await queue.stats()).counters["dead_lettered"] == 1
    assert await queue.outstanding() == 0


async def test_a_wide_or_unreadable_retry_does_not_wedge_the_worker(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue
) -> None:
    # What an older worker left in the retry set: a wide event it retried, and a member that is not
    # even JSON; besides them, an ordinary event on the stream.
    client = queue.client  # type: ignore[attr-defined]
    wide = _wide("wide-r", turn("ana", 1).to_json(), attempt="2")
    await client.zadd(queue.keys.retry, {json.dumps([x for kv in wide.items() for x in kv]): 0, "{poison": 0})
    odd = json.dumps(["event_id", "odd-1", "v"])  # no field/value pairs, naming an event that waits for it
    await client.zadd(queue.keys.retry, {odd: 0})
    await client.hset(queue.keys.status("odd-1"), mapping={"event_id": "odd-1", "status": "failed", "attempts": "2"})
    await client.xadd(queue.keys.stream, {"v": "2", "event_id": "plain-1", "type": "add", "attempt": "1",
                                          "source": "ext", "payload": turn("bo", 1).to_json()})  # fmt: skip

    report = await burst(psettings, embedder)  # before: MOVE_RETRIES failed on every call, for ever
    assert (report.processed, report.dead_lettered) == (2, 0)
    for event_id in ("wide-r", "plain-1"):
        record = await queue.status(event_id)
        assert record is not None and record.status is EventStatus.DONE, event_id
    assert set(stored(psettings.storage.path)) == {
        ("ana", "ana says fact number 1.0 about the hills"), ("bo", "bo says fact number 1.0 about the hills")
    }  # fmt: skip

    letters = {letter.fields["member"]: letter for letter in await queue.dlq_list(10)}
    assert set(letters) == {"{poison", odd}  # the poison went to the dead letters, as it was
    assert "retry" in letters["{poison"].error["message"] and letters["{poison"].event_id is None
    assert (letters[odd].event_id, letters[odd].attempts) == ("odd-1", 2)
    record = await queue.status("odd-1")
    assert record is not None and (record.status, record.dlq_id) == (EventStatus.DEAD_LETTERED, letters[odd].dlq_id)
    stats = await queue.stats()
    assert (stats.retry_scheduled, stats.counters["dead_lettered"]) == (0, 2)


async def test_a_step_that_keeps_failing_is_backed_off_and_a_burst_worker_gives_up(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "BURST_CONNECT_S", 1.5)  # 30 s in real use
    await queue.enqueue(PipelineEvent("waiting-1", turn("ana", 1)))  # work left: the burst goes on
    calls: list[float] = []

    async def refused(limit: int) -> int:
        calls.append(time.monotonic())
        raise StorageError("Redis at x refused to move due retries: ERR boom", backend="redis")

    async with worker_over(psettings, embedder) as worker:
        monkeypatch.setattr(worker.queue, "move_due_retries", refused)
        started = time.monotonic()
        with pytest.raises(StorageError, match="gave up after"):  # before: a hot loop, for ever
            await asyncio.wait_for(worker.run(burst=True), timeout=20)
    assert time.monotonic() - started < 10
    # Waits of 0.1, 0.2, 0.4, 0.8 s... between tries (each own-pending read in between succeeds):
    # not one every 0.1 s.
    assert 3 <= len(calls) <= 7, len(calls)
    assert calls[-1] - calls[-2] >= 0.35


async def test_a_wide_dead_letter_is_replayed_bounded_and_never_lost(queue: EventQueue) -> None:
    client = queue.client  # type: ignore[attr-defined]
    dlq_id = await client.xadd(queue.keys.dlq, {**_wide("wide-d", turn("ana", 1).to_json()), "dlq_error": "{}"})
    (letter,) = await queue.dlq_list(10)
    replayed = await queue.dlq_replay([letter])  # before: the letter was deleted, then its XADD failed
    assert len(replayed.stream_ids) == 1 and await queue.dlq_list(10) == []
    ((_, fields),) = await client.xrange(queue.keys.stream, replayed.stream_ids[0], replayed.stream_ids[0])
    assert fields["event_id"] == "wide-d" and fields["replayed_from"] == dlq_id
    assert json.loads(fields[EXTRA_FIELDS])["count"] == WIDE and len(fields) < 20


async def test_thousands_of_stale_heartbeats_are_dropped_in_one_heartbeat(queue: EventQueue) -> None:
    client = queue.client  # type: ignore[attr-defined]
    stale = {f"memoryd\x1fgone-{i}": 1 for i in range(9000)}  # beats from 1970: long stale
    await client.zadd(queue.keys.workers, stale)
    await client.hset(queue.keys.workers_info, mapping={name: "{}" for name in stale})
    assert await queue.heartbeat("alive", {"group": "memoryd"}, 5000) == 0  # before: unpack() failed
    assert await client.zcard(queue.keys.workers) == 1 and await client.hlen(queue.keys.workers_info) == 1
