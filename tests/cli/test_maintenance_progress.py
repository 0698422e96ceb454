"""``memoryd check``'s progress: each index comparison's bar counts the memories compared, once
each, and ends at their number (never past it, whatever the index holds that no memory owns)."""

from __future__ import annotations

import sqlite3
from collections import Counter

from memoryd import AsyncMemory, Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.maintenance import check_store

PHASES = ("comparing vectors", "comparing keywords")


class Told:
    """A :class:`memoryd.maintenance.Progress` that adds up what each phase was told."""

    def __init__(self) -> None:
        self.done: Counter[str] = Counter()
        self.totals: dict[str, int | None] = {}

    def __call__(self, phase: str, advance: int, total: int | None) -> None:
        self.done[phase] += advance
        if total is not None:
            self.totals[phase] = total


async def _store(settings: Settings, embedder: USEEmbedder, n: int) -> None:
    async with AsyncMemory(settings, embedder=embedder) as mem:
        for i in range(n):
            await mem.add(f"note {i}: the parcel number {i * 7} went to desk {i}", user_id="ana")


async def test_each_comparison_ends_at_the_number_of_memories(
    settings: Settings, embedder: USEEmbedder
) -> None:
    await _store(settings, embedder, 5)
    told = Told()
    report = await check_store(settings, embedder=embedder, progress=told)
    assert report.ok, report.problems
    for phase in PHASES:
        assert told.done[phase] == told.totals[phase] == report.counts["memories"], (phase, told.done)


async def test_index_entries_of_no_memory_do_not_push_a_bar_past_its_end(
    settings: Settings, embedder: USEEmbedder
) -> None:
    """The first memories' records deleted by hand: their vectors and keyword entries, first in id
    order, are compared before any memory is."""
    await _store(settings, embedder, 6)
    with sqlite3.connect(settings.storage.path) as conn:
        conn.execute("DELETE FROM memories WHERE id IN (SELECT id FROM memories ORDER BY id LIMIT 3)")
    told = Told()
    report = await check_store(settings, embedder=embedder, progress=told)
    assert any("belong to no memory" in p.message for p in report.problems), report.problems
    for phase in PHASES:
        assert told.done[phase] == told.totals[phase] == 3, (phase, told.done)
