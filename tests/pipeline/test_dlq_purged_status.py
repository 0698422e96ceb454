"""A purged dead letter's event says so: ``memoryd dlq purge`` deleted its letter, so its status
(``GET /v1/events/{id}``) no longer points at a dead-letter entry that is gone; it stays
``dead_lettered`` (the add was never stored) with an error ``dlq_purged`` that says so, and an add
again under the same event_id is accepted as a new event (before, it was a NOOP "duplicate event"
for ``result_ttl_s``, so the client's add was dropped). A letter whose event's status was taken over
since (replayed, or the id reused) leaves that status as it is."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline import EventRecord, EventStatus, PipelineEvent, build_queue
from tests.pipeline.conftest import PipelineCli, doc
from tests.pipeline.helpers import burst, producer, stored, turn


def _dead_letters(cli: PipelineCli, embedder: USEEmbedder, *names: str) -> int:
    """An external producer's events this worker cannot read (``v`` 99), then a worker's burst: how
    many it dead-lettered (these, and any replayed)."""

    async def go() -> int:
        async with producer(cli.settings, embedder) as (pipeline, _):
            for n, name in enumerate(names):
                poison = {**PipelineEvent(name, turn("ana", n)).to_fields(), "v": "99"}
                await pipeline.queue.client.xadd(pipeline.queue.keys.stream, poison)  # type: ignore[attr-defined]
        return (await burst(cli.settings, embedder)).dead_lettered

    return asyncio.run(go())


def test_a_purged_letters_event_says_so_and_its_id_is_accepted_again(
    pipeline_cli: Callable[..., PipelineCli], embedder: USEEmbedder
) -> None:
    cli = pipeline_cli()
    assert _dead_letters(cli, embedder, "gone-1", "gone-2", "kept-1") == 3
    letters = {d["event_id"]: d["dlq_id"] for d in doc(cli.run("dlq", "list", "--json"))["results"]}
    # One by id, then the oldest --count (gone-1 is the oldest); kept-1 stays.
    assert doc(cli.run("dlq", "purge", "--yes", "--id", letters["gone-2"], "--json")) == {"purged": 1}
    assert doc(cli.run("dlq", "purge", "--yes", "--count", "1", "--json")) == {"purged": 1}

    async def check() -> None:
        async with producer(cli.settings, embedder) as (pipeline, memory):
            for name in ("gone-1", "gone-2"):
                record = await pipeline.event(name)
                assert record.status is EventStatus.DEAD_LETTERED and record.dlq_id is None, record
                assert record.error is not None and record.error["code"] == "dlq_purged", record.error
                assert "accepted as a new event" in record.error["message"]
                assert record.error["cause"]["field"] == "event.v"  # why it died, kept
            kept = await pipeline.event("kept-1")
            assert kept.dlq_id == letters["kept-1"] and kept.error is not None
            assert kept.error.get("code") != "dlq_purged"
            again = await pipeline.submit_add(memory, turn("ana", 7), event_id="gone-1")  # the client's retry
            assert again.accepted and not again.duplicate, again
            twice = await pipeline.submit_add(memory, turn("ana", 7), event_id="gone-1")  # and its own retry
            assert twice.duplicate and twice.status is EventStatus.QUEUED
        assert (await burst(cli.settings, embedder)).processed == 1
        async with producer(cli.settings, embedder) as (pipeline, _):
            record = await pipeline.event("gone-1")
            assert record.status is EventStatus.DONE and record.error is None, record
        assert ("ana", "ana says fact number 7.0 about the hills") in stored(cli.settings.storage.path)

    asyncio.run(check())


def test_purging_every_letter_marks_each_event_and_spares_a_replayed_one(
    pipeline_cli: Callable[..., PipelineCli], embedder: USEEmbedder
) -> None:
    cli = pipeline_cli()
    assert _dead_letters(cli, embedder, "all-1", "all-2") == 2
    (first, second) = [d["dlq_id"] for d in doc(cli.run("dlq", "list", "--json"))["results"]]
    assert doc(cli.run("dlq", "replay", "--id", second, "--json"))["replayed"] == 1  # all-2 queued again
    assert _dead_letters(cli, embedder) == 1  # all-2 dies again (still unreadable): a new letter
    assert doc(cli.run("dlq", "purge", "--yes", "--id", first, "--json")) == {"purged": 1}

    one, two = _statuses(cli, "all-1", "all-2")
    assert one is not None and one.error is not None and one.error["code"] == "dlq_purged"
    assert two is not None and two.dlq_id is not None and two.error is not None
    assert two.error.get("code") != "dlq_purged", two  # its letter now is another one, not purged
    assert cli.run("dlq", "purge", "--yes").exit_code == 0  # every one: all-2's new letter too
    (two,) = _statuses(cli, "all-2")
    assert two is not None and two.dlq_id is None and two.error is not None
    assert two.error["code"] == "dlq_purged"


def _statuses(cli: PipelineCli, *event_ids: str) -> list[EventRecord | None]:
    async def go() -> list[EventRecord | None]:
        queue = build_queue(cli.settings.pipeline)
        try:
            return [await queue.status(event_id) for event_id in event_ids]
        finally:
            await queue.close()

    return asyncio.run(go())
