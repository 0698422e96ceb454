"""A writer that keeps adding to a store while a test reads it (check, export beside a server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from memoryd import AsyncMemory


@asynccontextmanager
async def busy_writer(mem: AsyncMemory, user_id: str, per_add: int = 1) -> AsyncIterator[list[int]]:
    """Within the block, ``mem`` adds ``per_add`` new messages for ``user_id`` again and again;
    the yielded list holds, once the block ends, how many adds it made."""
    stop = asyncio.Event()
    made: list[int] = []

    async def write() -> None:
        n = 0
        while not stop.is_set():
            await mem.add([f"note {n}.{k} about the shed" for k in range(per_add)], user_id=user_id)
            n += 1
        made.append(n)

    task = asyncio.create_task(write())
    try:
        yield made
    finally:
        stop.set()
        await task
