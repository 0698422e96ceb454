"""A retry that writes the same add otherwise is the same add, on both paths and across an upgrade.

An add's digest (what tells a client's retry from another add under its event id) was taken over
the body's raw fields, so a retry with ``"metadata": {}`` instead of none, or a string instead of a
one-element messages list, was a 409. Producers now queue (and fingerprint) the add as it reads;
the digest is still computed the one way every version computes it over a stream entry, so the
digests of events queued by an older producer, or recorded in the store by one, still match a
retry of the very body they were made from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import ConflictError
from memoryd.pipeline import AddPayload, EventQueue, PipelineEvent
from memoryd.pipeline.local_redis import free_port
from tests.api.conftest import running_server
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import burst, producer, stored

FIRST = {
    "messages": [{"role": "user", "content": "I keep bees on the roof", "timestamp": "2024-05-01T10:00:00Z"}],
    "user_id": "ana",
}
SAME: list[dict[str, Any]] = [  # the same add, written otherwise
    {**FIRST, "metadata": {}},
    {"messages": [{"content": "I keep bees on the roof"}], "user_id": "ana", "timestamp": "2024-05-01T10:00:00Z"},
    {"messages": "I keep bees on the roof", "user_id": "ana", "timestamp": 1714557600},
    {"messages": {"role": "user", "content": "I keep bees on the roof", "created_at": "2024-05-01T10:00:00+00:00"},
     "user_id": "ana", "metadata": None, "mode": None},
]  # fmt: skip
OTHER: list[dict[str, Any]] = [  # other adds under the same id
    {**FIRST, "metadata": {"topic": "bees"}},
    {**FIRST, "messages": "I keep bees on the roof"},  # no time of its own: another add
    {**FIRST, "user_id": "bo"},
    {**FIRST, "mode": "fast"},  # a mode given is not the default of whoever runs it
]


def _tried(c: httpx.Client, event_id: str) -> None:
    for body in SAME:
        r = c.post("/v1/memories", json={**body, "event_id": event_id})
        assert r.status_code == 200 and r.json()["event"] == "NOOP", (body, r.text)
    for body in OTHER:
        r = c.post("/v1/memories", json={**body, "event_id": event_id})
        assert r.status_code == 409 and r.json()["error"]["field"] == "event_id", (body, r.text)


async def test_a_retry_writing_the_same_add_otherwise_is_a_noop_and_another_add_a_conflict(
    psettings: Settings, embedder: USEEmbedder
) -> None:
    with running_server(psettings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.post("/v1/memories", json={**FIRST, "event_id": "e-1"}).status_code == 202
        _tried(c, "e-1")  # while it is queued
        assert (await burst(psettings, embedder)).processed == 1
        _tried(c, "e-1")  # once it is done
        assert c.get("/v1/events/e-1").json()["result"]["results"][0]["event"] == "ADD"
        assert (await burst(psettings, embedder)).processed == 0  # nothing more was queued
    assert stored(psettings.storage.path) == {("ana", "I keep bees on the roof"): 1}


async def test_with_redis_down_a_retry_writing_the_same_add_otherwise_is_a_noop_too(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    settings = pipeline_settings(tmp_path / "m.db", f"redis://127.0.0.1:{free_port()}/0", "down:")
    with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/v1/memories", json={**FIRST, "event_id": "e-1"})
        assert r.status_code == 200 and r.json()["pipeline"] == "bypassed"
        _tried(c, "e-1")
    assert stored(settings.storage.path) == {("ana", "I keep bees on the roof"): 1}


async def test_an_event_an_older_producer_queued_keeps_matching_its_retry_and_its_worker(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue
) -> None:
    raw = AddPayload("I keep bees on the roof", user_id="ana", metadata={})  # as an older memoryd queued it
    assert (await queue.enqueue(PipelineEvent("old-1", raw))).created
    async with producer(psettings, embedder) as (pipeline, memory):
        assert (await pipeline.submit_add(memory, raw, event_id="old-1")).duplicate  # its very body
        with pytest.raises(ConflictError):
            await pipeline.submit_add(memory, AddPayload("I keep wasps", user_id="ana"), event_id="old-1")
        # What this one queues is fingerprinted as any worker, older ones too, reads it back.
        assert (await pipeline.submit_add(memory, raw, event_id="new-1")).accepted
        client = queue.client  # type: ignore[attr-defined]
        ((_, entries),) = await client.xread({queue.keys.stream: "0"})
        entry = next(fields for _, fields in entries if fields["event_id"] == "new-1")
        record = await queue.status("new-1")
        assert record is not None and record.digest == PipelineEvent.from_fields(entry).payload.digest()
        report = await burst(psettings, embedder)
    assert (report.processed, report.duplicates, report.dead_lettered) == (2, 0, 0)  # no conflict
    assert stored(psettings.storage.path) == {
        ("ana", "I keep bees on the roof"): 1
    }  # new-1: a duplicate text
