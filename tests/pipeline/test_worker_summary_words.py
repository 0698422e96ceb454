"""`memoryd worker --burst` ends with one line of what it did, each count in the singular for one:
"1 duplicate", never "1 duplicates"."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from memoryd.pipeline import AddPayload, PipelineEvent
from memoryd.pipeline.redis_queue import RedisQueue
from tests.pipeline.conftest import PipelineCli


def test_the_summary_says_one_duplicate_in_the_singular(pipeline_cli: Callable[..., PipelineCli]) -> None:
    cli = pipeline_cli()

    async def queue_one_twice() -> None:
        queue = RedisQueue(cli.settings.pipeline)
        try:
            await queue.ensure_group()
            assert (await queue.enqueue(PipelineEvent("twice-1", AddPayload("I keep bees", user_id="ana")))).created
            ((_, [(_, fields)]),) = await queue.client.xread({queue.keys.stream: "0"})
            await queue.client.xadd(queue.keys.stream, fields)  # delivered a second time
        finally:
            await queue.close()

    asyncio.run(queue_one_twice())
    ran = cli.run("worker", "--burst", "--batch", "1")
    assert ran.exit_code == 0, ran.output
    assert "1 processed, 1 duplicate, 0 retried, 0 dead-lettered" in ran.stdout, ran.stdout
