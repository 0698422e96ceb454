"""What the pipeline tests share: a worker over a real store, waiting, reading the store back."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from memoryd import AsyncMemory, Settings
from memoryd.embedders import Embedder
from memoryd.pipeline import AddPayload, Pipeline, Worker, WorkerReport, build_queue
from memoryd.pipeline.prefetch import PrefetchEmbedder


@asynccontextmanager
async def worker_over(
    settings: Settings, embedder: Embedder, consumer: str = "w1", *, prefetch: bool = True
) -> AsyncIterator[Worker]:
    """A worker with its own memory (as a worker process has) over ``settings``' store."""
    memory = await AsyncMemory(settings, embedder=PrefetchEmbedder(embedder) if prefetch else embedder).open()
    queue = build_queue(settings.pipeline, blocking=True)
    try:
        yield Worker(memory, queue, settings.pipeline, consumer=consumer)
    finally:
        await queue.close()
        await memory.close()


async def burst(settings: Settings, embedder: Embedder, consumer: str = "w1") -> WorkerReport:
    """Run one worker until nothing is left to do."""
    async with worker_over(settings, embedder, consumer) as worker:
        return await asyncio.wait_for(worker.run(burst=True), timeout=60)


@asynccontextmanager
async def producer(settings: Settings, embedder: Embedder) -> AsyncIterator[tuple[Pipeline, AsyncMemory]]:
    """The server side: a pipeline and the memory a server would hold."""
    memory = await AsyncMemory(settings, embedder=embedder).open()
    pipeline = Pipeline(settings.pipeline, settings.limits)
    await pipeline.start()
    try:
        yield pipeline, memory
    finally:
        await pipeline.close()
        await memory.close()


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float = 30.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def stored(db: Path) -> Counter[tuple[str | None, str]]:
    """(user_id, text) of every current memory, counted: a count above 1 is a duplicate."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT user_id, text FROM memories WHERE valid_to IS NULL").fetchall()
    finally:
        conn.close()
    return Counter((u, t) for u, t in rows)


def turn(user: str, n: int, messages: int = 1) -> AddPayload:
    """A distinct conversation turn of ``user``."""
    texts = [
        f"{user} says fact number {n}.{i} about the {['sea', 'hills', 'city'][n % 3]}"
        for i in range(messages)
    ]
    return AddPayload([{"role": "user", "content": t} for t in texts], user_id=user)
