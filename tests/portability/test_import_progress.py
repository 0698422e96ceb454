"""An import's progress (what `memoryd import` draws) reaches the totals it gives: every line of the
file is counted as checked, and every row as imported, those the store held already too; the
summary's counts stay those of the rows written."""

from __future__ import annotations

from pathlib import Path

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.portability import export_store, import_store
from memoryd.portability.import_ import check_file
from tests.portability.conftest import store_settings


class Told:
    """The progress an import reports: per phase, the sum of its advances and its last total."""

    def __init__(self) -> None:
        self.done: dict[str, int] = {}
        self.total: dict[str, int | None] = {}

    def __call__(self, phase: str, advance: int, total: int | None) -> None:
        self.done[phase] = self.done.get(phase, 0) + advance
        if total is not None or phase not in self.total:
            self.total[phase] = total


async def test_progress_reaches_its_totals_when_rows_are_held_already(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    settings = store_settings(tmp_path / "store.db")
    backup = tmp_path / "ana.jsonl"
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add(["I like green tea", "I live in Lyon"], user_id="ana", run_id="s1")
        exported = await export_store(mem, backup, user_id="ana")
        await mem.delete_all(user_id="ana")  # the memories go, their history stays
        told = Told()
        summary = await import_store(mem, backup, batch_size=2, progress=told)
    lines = len(backup.read_text(encoding="utf-8").splitlines())
    assert told.done["checking the file"] == told.total["checking the file"] == lines
    assert told.done["importing"] == told.total["importing"] == sum(exported.counts.values())
    assert summary.counts["history"] == 0 and summary.counts["memory"] == exported.counts["memory"]


async def test_the_check_before_a_new_store_is_made_tells_its_progress(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    """`memoryd import` into a new store checks the whole file first (nothing is made for a bad
    one): that pass showed no progress at all, however big the file."""
    backup = tmp_path / "ana.jsonl"
    async with AsyncMemory(store_settings(tmp_path / "store.db"), embedder=embedder) as mem:
        await mem.add(["I like green tea", "I live in Lyon"], user_id="ana", run_id="s1")
        await export_store(mem, backup, user_id="ana")
    told = Told()
    await check_file(backup, told)
    lines = len(backup.read_text(encoding="utf-8").splitlines())
    assert told.done["checking the file"] == told.total["checking the file"] == lines
