"""A malformed retry naming an event that is on the stream again does not dead-letter that event.

MOVE_RETRIES dead-letters a retry that is no field/value list, as it was, and marks the status of
the event it names dead_lettered when that event waits for this retry. It took any ``queued``
status for waiting (an event put back to wait on the store's outage reads ``queued``), but
``queued`` is also a fresh or replayed event's, on the stream: such an event was marked
dead_lettered, and its live entry then dropped by the worker as a duplicate, never stored. Now
only ``failed``, or ``queued`` with the retry's ``retry_at``, counts as waiting for it. Real Redis,
a real store, a real worker.
"""

from __future__ import annotations

import json

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline import EventQueue, EventStatus
from tests.pipeline.helpers import burst, producer, stored, turn


async def test_a_malformed_retry_does_not_dead_letter_its_event_queued_on_the_stream_again(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue
) -> None:
    client = queue.client  # type: ignore[attr-defined]
    async with producer(psettings, embedder) as (pipeline, memory):
        assert (await pipeline.submit_add(memory, turn("ana", 1), event_id="live-1")).accepted
    # An older worker's malformed retry of it (no field/value pairs), due now; and one of an event
    # that does wait for its retry, put back on the store's outage.
    live = json.dumps(["event_id", "live-1", "v"])
    waits = json.dumps(["event_id", "waits-1", "v"])
    await client.zadd(queue.keys.retry, {live: 0, waits: 0})
    await client.hset(queue.keys.status("waits-1"), mapping={
        "event_id": "waits-1", "status": "queued", "attempts": "1", "retry_at": "2026-01-01T00:00:00+00:00",
    })  # fmt: skip

    assert await queue.move_due_retries(10) == 2  # both went to the dead letters, as they were
    letters = {letter.fields["member"]: letter for letter in await queue.dlq_list(10)}
    assert set(letters) == {live, waits}
    record = await queue.status("live-1")
    assert record is not None and record.status is EventStatus.QUEUED, record  # its entry is live
    record = await queue.status("waits-1")
    assert record is not None and record.status is EventStatus.DEAD_LETTERED  # it waited for that retry

    report = await burst(psettings, embedder)
    assert (report.processed, report.duplicates) == (1, 0)
    record = await queue.status("live-1")
    assert record is not None and record.status is EventStatus.DONE, record
    assert ("ana", "ana says fact number 1.0 about the hills") in stored(psettings.storage.path)
