"""``memoryd check``'s summary line: what it read, counted as English counts it.

It said "(1 memories, 1 history, 1 vectors, 1 keywords, …)" of a store with one memory, and
"1 problem in …/memoryd.db ()" of a store it could not open (nothing read, nothing counted)."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Run


def _line(text: str) -> str:
    return " ".join(text.split())


def test_one_of_each_is_said_in_the_singular(run: Run) -> None:
    assert run("add", "-u", "ana", "--mode", "fast", "I keep bees").exit_code == 0
    checked = run("check")
    assert checked.exit_code == 0, checked.stderr
    said = _line(checked.stdout)
    assert "(1 memory, 1 history row, 1 vector, 1 keyword entry," in said, said
    assert "1 memories" not in said and "1 vectors" not in said


def test_a_store_that_does_not_open_has_no_empty_counts(run: Run, db_path: Path) -> None:
    assert run("add", "-u", "ana", "--mode", "fast", "I keep bees").exit_code == 0
    db_path.write_bytes(b"this is not a database at all, " * 200)
    checked = run("check")
    assert checked.exit_code == 1
    said = _line(checked.stdout)
    assert "1 problem in" in said, said
    assert "()" not in said, said
