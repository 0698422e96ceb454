"""A search or context() that returned as its store closed (an idle tenant's, closed by the server;
a shutdown) counted its hits after ``close``: that armed the flush timer on the closed store, whose
flush failed and re-armed it, a warning every ``heat_flush_after_s`` for as long as the process
ran. Now no flush is tried while the store is closed; the counts wait for it to open again."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from tests.hierarchy.conftest import TOPICS, Clock, chat, stored_retrievals, tier_settings


async def test_counts_taken_after_close_try_no_flush_of_the_closed_store(
    tmp_path: Path, embedder: USEEmbedder, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    settings = tier_settings(tmp_path, short_term_turns=1, promote_heat=100, heat_flush_after_s=0.1)
    mem = AsyncMemory(settings, embedder=embedder, clock=clock)
    await mem.open()
    await chat(mem, TOPICS["cat"], run_id="s1")
    found = (await mem.get_all(user_id="ana", limit=10)).items
    base = stored_retrievals(tmp_path / "tiers.db")
    await mem.close()

    mem.tiers.note(found)  # what context() counts once its block, built off the loop, is ready
    await asyncio.sleep(0.6)  # several intervals
    failed = [r.getMessage() for r in caplog.records if r.name.startswith("memoryd.hierarchy")]
    assert failed == []

    await mem.open()  # opened again: the counts were kept, and are written
    try:
        await mem.tiers.flush()
    finally:
        await mem.close()
    assert stored_retrievals(tmp_path / "tiers.db") > base
