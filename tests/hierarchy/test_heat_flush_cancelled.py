"""A heat flush cancelled while its commit runs (the sync ``Memory``'s close cancels the calls and
tasks still running, as ``asyncio.run`` does at its end; a server cancels a request whose client
went away) counted each retrieval twice: the writer thread committed the counts all the same, and
the cancelled flush put them back for the next flush to write again. Now a cancelled flush or write
waits for its commit's outcome and puts the counts back only when nothing was written."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.hierarchy.conftest import TOPICS, chat, stored_retrievals

Make = Callable[..., Any]
QUERY = "a cat called Miso"


async def _one_search_counted(mem: Any, db: Path) -> tuple[int, int]:
    """After a chat, what the segments held and what one search of :data:`QUERY` adds, written."""
    await chat(mem, TOPICS["cat"], run_id="s1")
    base = stored_retrievals(db)
    assert await mem.search(QUERY, user_id="ana", limit=3)
    await mem.tiers.drain()  # a background flush the search started (heat_flush_every=1)
    await mem.tiers.flush()  # or what waits for heat_flush_after_s
    once = stored_retrievals(db) - base
    assert once >= 1
    return base, once


@contextmanager
def _writer_waiting(db: Path) -> Iterator[None]:
    """Another connection holds the write lock for the block: the store's writer waits; then it goes on."""
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


async def test_a_flush_cancelled_while_its_commit_runs_counts_each_retrieval_once(
    make_memory: Make, tmp_path: Path
) -> None:
    db = tmp_path / "tiers.db"
    async with make_memory(short_term_turns=1, promote_heat=100, heat_flush_every=1) as mem:
        base, once = await _one_search_counted(mem, db)
        with _writer_waiting(db):  # the commit lands once the block ends
            before = set(asyncio.all_tasks())
            assert await mem.search(QUERY, user_id="ana", limit=3)  # the same hits
            await asyncio.sleep(0.5)  # the flush it started hands its commit to the writer, which waits
            started = set(asyncio.all_tasks()) - before
            assert started  # the background flush
            for task in started:  # what the sync Memory's close does to the tasks still running
                task.cancel()
        await asyncio.gather(*started, return_exceptions=True)
        await mem.tiers.flush()
    assert stored_retrievals(db) - base == 2 * once  # two searches, each counted once


async def test_an_add_cancelled_while_its_commit_runs_writes_the_heat_it_carries_once(
    make_memory: Make, tmp_path: Path
) -> None:
    # The counts pending ride along with the next write of any owner; that add's request was
    # cancelled (its client went away) while the writer committed it.
    db = tmp_path / "tiers.db"
    async with make_memory(short_term_turns=1, promote_heat=100, heat_flush_after_s=3600) as mem:
        base, once = await _one_search_counted(mem, db)
        assert await mem.search(QUERY, user_id="ana", limit=3)  # pending, in memory
        with _writer_waiting(db):
            adding = asyncio.ensure_future(
                mem.add({"role": "user", "content": "I also play the cello."}, user_id="bob", run_id="b1")
            )
            await asyncio.sleep(0.5)  # the add's commit (with the counts) waits for the lock
            adding.cancel()
        await asyncio.gather(adding, return_exceptions=True)
        await mem.tiers.flush()
        assert await mem.get_all(user_id="bob")  # the add was written: its counts with it
    assert stored_retrievals(db) - base == 2 * once
