"""An embedding service that refuses one input (HTTP 400: over the model's limit, say) is no outage:
only the event holding it may fail. Consecutive events of one user are merged into one add, whose
messages are embedded in one request; when that request was refused, every event of the add was
retried as if the service were down, and came back merged with the culprit each time, until all of
them were dead-lettered with it. Now such an add runs again event by event, as a permanent error's
does, so the culprit fails alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from memoryd.embedders.openai import OpenAIEmbedder
from memoryd.pipeline import EventStatus
from memoryd.pipeline.local_redis import LocalRedis
from tests.fakes.llm_server import Reply, Script
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import producer, stored, turn, worker_over

pytestmark = pytest.mark.timeout(120)


async def test_an_input_the_embedder_refuses_fails_only_its_own_event_of_a_merged_add(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, fake_llm: Script
) -> None:
    embedder = {"provider": "openai", "model": "emb", "base_url": fake_llm.base_url, "dim": 16}
    settings = pipeline_settings(tmp_path / "m.db", redis_server.url, prefix, {"embedder": embedder})
    remote = OpenAIEmbedder.from_config(settings.embedder)
    try:
        async with producer(settings, remote) as (pipeline, memory):
            for n in (1, 2):
                await pipeline.submit_add(memory, turn("ana", n), event_id=f"chat-{n}")
            too_long = "input is longer than the model's context length"
            # The batch's one request, then the merged add's; then chat-1 alone, then chat-2 alone.
            fake_llm.fail(400, message=too_long, times=2).push(Reply()).fail(400, message=too_long)
            async with worker_over(settings, remote) as worker:
                await worker.process(await worker.queue.read(worker.consumer, 10, None))
            good, bad = await pipeline.event("chat-1"), await pipeline.event("chat-2")
        assert good.status is EventStatus.DONE, good
        assert bad.status is EventStatus.FAILED and bad.error is not None and "HTTP 400" in bad.error["message"]
        assert set(stored(settings.storage.path)) == {("ana", "ana says fact number 1.0 about the hills")}
    finally:
        remote.close()
