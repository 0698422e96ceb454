"""``duplicates_enqueued`` (``/health``'s counters, ``/metrics``' ``memoryd_pipeline_events_total``)
counts the adds sent again under a known ``event_id`` that were answered as duplicates (NOOP), as
the server's ``submissions_total{path="duplicate"}`` does: never a ``409``, an add of another body or
another user under that id. Before, every submission naming a known id was counted, so each
conflict read as a duplicate."""

from __future__ import annotations

import pytest

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import ConflictError
from memoryd.pipeline import AddPayload, EventQueue, PipelineEvent
from tests.pipeline.helpers import producer


async def test_a_conflict_is_not_counted_as_a_duplicate(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue
) -> None:
    bees = AddPayload("I keep bees", user_id="ana")
    async with producer(psettings, embedder) as (pipeline, memory):
        assert (await pipeline.submit_add(memory, bees, event_id="c-1")).accepted
        assert (await pipeline.submit_add(memory, bees, event_id="c-1")).duplicate
        with pytest.raises(ConflictError):  # another body
            await pipeline.submit_add(memory, AddPayload("I keep wasps", user_id="ana"), event_id="c-1")
        with pytest.raises(ConflictError):  # another user
            await pipeline.submit_add(memory, AddPayload("I keep bees", user_id="bo"), event_id="c-1")
        assert (await pipeline.submit_add(memory, bees, event_id="c-1")).duplicate
        assert pipeline.submissions["duplicate"] == 2
    counters = (await queue.stats()).counters
    assert (counters["enqueued"], counters["duplicates_enqueued"]) == (1, 2)


async def test_a_retry_of_an_older_producers_body_is_counted_as_a_duplicate(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue
) -> None:
    raw = AddPayload("I keep bees on the roof", user_id="ana", metadata={})  # as an older memoryd queued it
    assert (await queue.enqueue(PipelineEvent("old-1", raw))).created
    async with producer(psettings, embedder) as (pipeline, memory):
        assert (await pipeline.submit_add(memory, raw, event_id="old-1")).duplicate
    assert (await queue.stats()).counters["duplicates_enqueued"] == 1
