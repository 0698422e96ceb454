"""Events queued while the consumer group does not exist (no worker has started in it yet, or Redis
lost it with its data) were all undelivered, yet the queue reported their lag as unknown: ``lag None``
in ``worker --check``'s summary and in ``/health``, ``NaN`` in ``/metrics``. A group is made reading
from the stream's start, so every entry is lag: the lag is the stream's length."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from memoryd.pipeline import EventQueue, PipelineEvent, build_queue
from tests.pipeline.conftest import PipelineCli, doc
from tests.pipeline.helpers import turn


async def test_events_queued_before_any_group_are_all_lag(queue: EventQueue) -> None:
    for n in range(3):
        await queue.enqueue(PipelineEvent(f"nogroup-{n}", turn("ana", n)))
    stats = await queue.stats()
    assert (stats.stream_length, stats.lag, stats.pending) == (3, 3, 0)
    assert stats.to_dict()["lag"] == 3


def test_check_of_a_group_not_made_yet_counts_the_queue_as_lag(
    pipeline_cli: Callable[..., PipelineCli],
) -> None:
    cli = pipeline_cli()

    async def enqueue() -> None:
        queue = build_queue(cli.settings.pipeline)
        try:
            await queue.enqueue(PipelineEvent("nogroup-cli", turn("ana", 1)))
        finally:
            await queue.close()

    asyncio.run(enqueue())
    checked = cli.run("worker", "--check", "--group", "not-made-yet", "--json")
    assert checked.exit_code == 1  # no worker alive
    report = doc(checked)
    assert (report["stream_length"], report["lag"]) == (1, 1)
    human = cli.run("worker", "--check", "--group", "not-made-yet")
    assert "lag 1," in " ".join(human.stdout.split()) and "None" not in human.stdout
