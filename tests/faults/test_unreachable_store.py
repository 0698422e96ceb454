"""``memoryd check`` on a store it cannot open (a read-only mount, permissions, a lock) said the
records were damaged and to restore the last backup: advice that throws away recent writes."""

from __future__ import annotations

from pathlib import Path

from memoryd import load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.maintenance import check_store
from memoryd.maintenance.check import UNREACHABLE


async def test_a_store_out_of_reach_is_not_called_damaged(tmp_path: Path, embedder: USEEmbedder) -> None:
    store = tmp_path / "m.db"
    store.mkdir()  # what SQLite cannot open either: "unable to open database file" (root ignores modes)
    settings = load_settings(env={}, overrides={"storage": {"path": str(store)}})
    report = await check_store(settings, embedder=embedder)
    assert not report.ok
    assert [(p.role, p.fix) for p in report.problems] == [("records", UNREACHABLE)]
    assert "restore" not in report.problems[0].fix
