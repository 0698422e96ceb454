"""``memoryd dlq replay --dry-run`` says what the replay would do with each letter, and changes nothing.

Before, it said "would replay N" of every letter selected, counting those the real replay skips: a
letter whose event id names another add now (left in the DLQ, a conflict) and one whose event is
done already (removed, finished). Now the dry run runs the replay's own script, which answers as the
replay would and writes nothing: the stream, the DLQ, the events' statuses and the counters are as
they were, and the real replay then does what the dry run said.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline import EventQueue, PipelineEvent, build_queue
from tests.pipeline.conftest import PipelineCli, doc
from tests.pipeline.helpers import burst, producer, turn

IDS = ("plain-1", "reused-1", "fin-1")


async def _letters(cli: PipelineCli, embedder: USEEmbedder) -> dict[str, str]:
    """Three dead letters, by event id: one a replay moves back, one whose event id names another add
    now (its status expired, then the id was reused by another user), one whose event is done."""
    async with producer(cli.settings, embedder) as (pipeline, memory):
        queue, client = pipeline.queue, pipeline.queue.client  # type: ignore[attr-defined]
        await pipeline.submit_add(memory, turn("ana", 0), event_id="fin-1")
        assert (await burst(cli.settings, embedder)).processed == 1
        for n, name in enumerate(IDS[:2]):  # events of a newer version: dead-lettered at once
            poison = {**PipelineEvent(name, turn("ana", n + 1)).to_fields(), "v": "99"}
            await client.xadd(queue.keys.stream, poison)
        assert (await burst(cli.settings, embedder)).dead_lettered == 2
        await client.delete(queue.keys.status("reused-1"))  # its status expired ...
        assert (await pipeline.submit_add(memory, turn("bob", 5), event_id="reused-1")).accepted  # ... reused
        # A letter of the done event, as a worker that stalled past its lease leaves one behind.
        stale = {**PipelineEvent("fin-1", turn("ana", 0)).to_fields(), "dlq_attempts": "1"}
        await client.xadd(queue.keys.dlq, stale)
        return {d.event_id or "": d.dlq_id for d in await queue.dlq_list(10)}


async def _state(cli: PipelineCli) -> dict[str, Any]:
    """Everything a replay could change: the stream, the DLQ, the events' statuses, the counters."""
    queue: EventQueue = build_queue(cli.settings.pipeline)
    client = queue.client  # type: ignore[attr-defined]
    try:
        return {
            "stream": await client.xrange(queue.keys.stream),
            "dlq": await client.xrange(queue.keys.dlq),
            "statuses": [await client.hgetall(queue.keys.status(i)) for i in IDS],
            "stats": await client.hgetall(queue.keys.stats),
        }
    finally:
        await queue.close()


def test_a_dry_run_says_what_the_replay_would_do_with_each_letter_and_changes_nothing(
    pipeline_cli: Callable[..., PipelineCli], embedder: USEEmbedder
) -> None:
    cli = pipeline_cli()
    letters = asyncio.run(_letters(cli, embedder))
    assert set(letters) == set(IDS)
    before = asyncio.run(_state(cli))

    text = cli.run("dlq", "replay", "--dry-run")
    assert text.exit_code == 0, text.stderr
    said = " ".join((text.stdout + text.stderr).split())
    assert "would replay 1 event onto" in said, said  # not 3
    assert "would leave 1 in the DLQ" in said and "would remove 1" in said, said
    assert "nothing changed (dry run)" in said, said
    dry = doc(cli.run("dlq", "replay", "--dry-run", "--json"))
    assert dry["dry_run"] is True and dry["stream_ids"] == []
    assert (dry["replayed"], dry["replayed_ids"]) == (1, [letters["plain-1"]])
    assert (dry["conflicts"], dry["finished"]) == ([letters["reused-1"]], [letters["fin-1"]])
    assert asyncio.run(_state(cli)) == before  # the stream, the DLQ, the statuses, the counters

    real = doc(cli.run("dlq", "replay", "--json"))  # does what the dry run said
    assert (real["replayed"], real["replayed_ids"]) == (1, [letters["plain-1"]]) and len(real["stream_ids"]) == 1
    assert (real["conflicts"], real["finished"]) == ([letters["reused-1"]], [letters["fin-1"]])
    assert [d["dlq_id"] for d in doc(cli.run("dlq", "list", "--json"))["results"]] == [letters["reused-1"]]
