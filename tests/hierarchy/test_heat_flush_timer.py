"""Retrieval heat counted in memory reaches the SQLite file once ``heat_flush_after_s`` has passed,
with no further search, write or tree read: a kill then loses at most that much (README, "Memory
hierarchy"). Closing writes what is pending and leaves no task behind; a deleted user's counts are
not written back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import ConfigError
from memoryd.portability.export import export_store
from memoryd.portability.import_ import import_store
from tests.hierarchy.conftest import TOPICS, Clock, chat, stored_retrievals, tier_settings

Make = Callable[..., Any]


async def _until_stored(db: Path, user_id: str, deadline_s: float = 60.0) -> int:
    """Wait (doing nothing with the memory) until the user's heat is in the file, or the deadline."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while (found := stored_retrievals(db, user_id)) == 0 and loop.time() < end:
        await asyncio.sleep(0.05)
    return found


def _ours(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.name.startswith("memoryd.hierarchy")]


async def test_one_search_then_silence_writes_its_heat_once_the_interval_passed(
    make_memory: Make, tmp_path: Path
) -> None:
    # Before: only another search, a write or a tree read flushed the counts; after one search and
    # silence they stayed in memory for hours, and a kill -9 lost them.
    async with make_memory(short_term_turns=1, promote_heat=100, heat_flush_after_s=0.2) as mem:
        await chat(mem, TOPICS["cat"], run_id="s1")
        assert stored_retrievals(tmp_path / "tiers.db", "ana") == 0
        hits = await mem.search("a cat called Miso", user_id="ana", limit=3)
        assert hits
        assert await _until_stored(tmp_path / "tiers.db", "ana") >= 1


async def test_close_writes_the_pending_heat_and_leaves_no_task_behind(
    tmp_path: Path, embedder: USEEmbedder, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    mem = AsyncMemory(
        tier_settings(tmp_path, short_term_turns=1, promote_heat=100, heat_flush_after_s=0.2),
        embedder=embedder,
        clock=clock,
    )
    await mem.open()
    try:
        await chat(mem, TOPICS["cat"], run_id="s1")
        before = set(asyncio.all_tasks())
        await mem.search("a cat called Miso", user_id="ana", limit=3)
    finally:
        await mem.close()
    assert stored_retrievals(tmp_path / "tiers.db", "ana") >= 1  # written by close
    assert set(asyncio.all_tasks()) <= before  # no flush left running
    await asyncio.sleep(0.5)  # past the interval: a timer left armed would flush a closed store
    assert set(asyncio.all_tasks()) <= before
    assert _ours(caplog.records) == []


async def test_a_deleted_users_pending_heat_is_not_written_back(
    make_memory: Make, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Ana's counts were still pending when she was deleted; her export is imported again (the same
    # memory and segment ids): the stale counts must not heat her imported segments.
    caplog.set_level(logging.WARNING)
    db, dump = tmp_path / "tiers.db", tmp_path / "ana.jsonl"
    async with make_memory(short_term_turns=1, promote_heat=100, heat_flush_after_s=0.5) as mem:
        await chat(mem, TOPICS["cat"], run_id="s1")
        await chat(mem, TOPICS["work"], user_id="bob", run_id="b1")
        await export_store(mem, dump, user_id="ana")
        exported = stored_retrievals(db, "ana")
        await mem.search("a cat called Miso", user_id="ana", limit=3)
        await mem.delete_user("ana")
        await import_store(mem, dump)
        assert stored_retrievals(db, "ana") == exported
        await mem.search("Where does Bob work?", user_id="bob", limit=3)
        assert await _until_stored(db, "bob") >= 1  # the timer fired meanwhile, for bob
        tree = await mem.tree("ana")  # flushes whatever is still pending
        segments = [s for topic in tree["topics"] for s in topic["segments"]]
        assert sum(s["retrievals"] for s in segments) == exported
    assert stored_retrievals(db, "ana") == exported
    assert _ours(caplog.records) == []


@pytest.mark.parametrize("bad", [0, -1, 3601, "nan", "inf"])
def test_heat_flush_after_s_must_be_a_positive_number_of_seconds_up_to_an_hour(bad: Any) -> None:
    with pytest.raises(ConfigError, match="heat_flush_after_s") as caught:
        load_settings(env={}, overrides={"tiers": {"heat_flush_after_s": float(bad)}})
    assert caught.value.field == "tiers.heat_flush_after_s"


def test_heat_flush_after_s_defaults_to_half_a_minute() -> None:
    assert load_settings(env={}).tiers.heat_flush_after_s == 30.0
