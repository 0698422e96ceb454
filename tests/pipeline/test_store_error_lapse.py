"""A worker's word on the store (``store_error``) lapses by itself, and reading it changes nothing.

``Worker.info()`` (what each heartbeat carries) cleared a lapsed ``store_error`` as it read it: the
worker's ``store_error`` still named a full disk long after the word had lapsed, until something
happened to call ``info()``, and reading the worker's state changed it. Now whether the word holds
is worked out from when an event last waited on the store (it lapses twice ``backoff_max_ms`` after
that, as before), by a read that changes nothing. The disk is a real one: a small tmpfs holding the
store, filled up by a file, then freed. ``backoff_max_ms`` is long enough here (the word holds 7 s
after the last wait) that reading the word just after the worker said it never races its lapse.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline import Worker
from memoryd.pipeline.local_redis import LocalRedis
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import producer, turn, wait_until, worker_over
from tests.pipeline.test_store_refuses_writes import fill, small_disk

_BACKOFF_MAX_MS = 3000


async def test_the_workers_store_error_lapses_without_info_and_info_changes_nothing(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        # The first retries 20 ms apart, and the word held 2 x 3 s (+ 1 s) after the last one.
        settings = pipeline_settings(disk / "m.db", redis_server.url, prefix, backoff_max_ms=_BACKOFF_MAX_MS)
        async with AsyncMemory(settings, embedder=embedder):
            pass
        async with producer(settings, embedder) as (pipeline, memory), worker_over(settings, embedder) as worker:
            await pipeline.submit_add(memory, turn("ana", 0), event_id="full-0")
            filler = fill(disk)
            running = asyncio.create_task(worker.run())
            try:
                await wait_until(lambda: _says(worker), what="the worker to name the store")
            finally:
                worker.stop()
                await asyncio.wait_for(running, timeout=30)
            os.remove(filler)

            state = dict(vars(worker))
            assert "disk is full" in worker.info()["store_error"]  # just said: still news
            assert vars(worker) == state  # reading it changed nothing
            assert worker.store_error is not None and "disk is full" in worker.store_error

            # The word lapses by itself (nobody reads info() meanwhile) ...
            await wait_until(lambda: _says(worker, False), timeout=60, what="the word to lapse")
            # ... and reading the worker once it has changes nothing either.
            state = dict(vars(worker))
            assert "store_error" not in worker.info() and "store_error" not in worker.info()
            assert vars(worker) == state


async def _says(worker: Worker, said: bool = True) -> bool:
    """Whether the worker's ``store_error`` names the store's refusal (read without ``info()``)."""
    return (worker.store_error is not None) == said
