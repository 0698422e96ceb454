"""What Ctrl-C says an import wrote is said in good grammar: one row "was written", more "were".
(The real-signal tests, tests/portability/test_import_interrupt.py, cannot stop an import after
exactly one row; this reads the report the CLI builds for that state, into a real store.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from memoryd.cli.portability import _stopped
from memoryd.portability.import_ import ImportState


def _report(tmp_path: Path, run: Callable[..., Result], written: dict[str, int]) -> str:
    db = tmp_path / "held.db"
    added = run({"MEMORYD_STORAGE__PATH": str(db)}, "add", "--mode", "fast", "-u", "zoe", "I like tea")
    assert added.exit_code == 0, added.stderr
    state = ImportState(new=False, written={**dict.fromkeys(written, 0), **written})
    again, undo = "memoryd import big.jsonl", "memoryd import --restart big.jsonl"
    return _stopped(state, Path("big.jsonl"), db, again, undo, False).report


def test_one_memory_written_before_ctrl_c_was_written(tmp_path: Path, run: Callable[..., Result]) -> None:
    report = _report(tmp_path, run, {"memory": 1})
    assert report.startswith(f"1 memory of big.jsonl was written into {tmp_path / 'held.db'}"), report


def test_several_rows_written_before_ctrl_c_were_written(tmp_path: Path, run: Callable[..., Result]) -> None:
    report = _report(tmp_path, run, {"memory": 1, "history": 1})
    assert report.startswith("1 memory, 1 history row of big.jsonl were written"), report
    report = _report(tmp_path, run, {"memory": 3})
    assert report.startswith("3 memories of big.jsonl were written"), report
