"""Ctrl-C (a real SIGINT) stops ``memoryd import`` saying what it wrote and how to finish, and the
same import run again names the import that did not finish: into a store that held memories
already (what it wrote stays there), and into a new one (removed)."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.portability.importing import (
    CLONES,
    memories,
    memory_lines,
    midway,
    said,
    start,
    stop,
    with_clones,
    with_history,
)


@pytest.mark.timeout(600)
def test_ctrl_c_into_a_store_that_held_memories_says_what_it_wrote_and_how_to_finish(
    tmp_path: Path, stores: Path, whole: Path, run: Callable[..., Result]
) -> None:
    big = tmp_path / "big.jsonl"
    clones = with_history(whole, big, CLONES)
    db = stores / "held" / "a.db"
    env = {"MEMORYD_STORAGE__PATH": str(db)}
    added = run(env, "add", "--mode", "fast", "-u", "zoe", "I like green tea")
    assert added.exit_code == 0, added.stderr
    held = memories(db)

    code, out, err = stop(start(big, env, "--json"), lambda: memories(db) > held + 20, signal.SIGINT)
    assert code == 130, err
    report = said(err)
    document = json.loads(out)
    assert document["interrupted"] is True and document["store"] == str(db)
    written = document["written"]["memory"]
    assert memories(db) == held + written  # what it says it wrote is what the store holds
    assert report.startswith(f"interrupted: {written} memories") and f"of {big} were written into {db}" in report
    assert f"To finish, run: memoryd import --restart {big} --batch-size 1" in report
    assert document["finish"] == f"memoryd import --restart {big} --batch-size 1"

    again = run(env, "import", str(big))  # the same file again: the unfinished import is named
    assert again.exit_code == 1
    assert f"an import of {big} into this store did not finish" in said(again.stderr), again.stderr
    assert f"`memoryd import --restart {big}`" in said(again.stderr)

    finished = run(env, "import", "--restart", str(big))  # the fix it names
    assert finished.exit_code == 0, finished.stderr
    checked = run(env, "check")
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    assert memories(db) == held + CLONES + memory_lines(whole)
    # A memory it had written (not yet its history), removed by that fix and imported again: its
    # history is the file's, as if the interrupted import had never been.
    rows = json.loads(run(env, "history", clones[0], "--json").stdout)["results"]
    assert [r["event"] for r in rows] == ["ADD"], rows


@pytest.mark.timeout(600)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopped_into_a_new_store_says_nothing_is_left(
    tmp_path: Path, stores: Path, whole: Path, run: Callable[..., Result], signum: int
) -> None:
    """Ctrl-C, and SIGTERM (`kill PID`, `timeout`, a service manager or `docker stop`): the import
    cleans up after itself, rather than leave a store only `--restart` can clear."""
    big = tmp_path / "big.jsonl"
    with_clones(whole, big, CLONES)
    db = stores / "new" / "a.db"
    env = {"MEMORYD_STORAGE__PATH": str(db)}

    code, out, err = stop(start(big, env, "--json"), midway(db), signum)
    assert code == 130, err
    report = said(err)
    assert f"nothing was imported, and no store is left at {db}" in report, report
    assert f"run it again: memoryd import {big} --batch-size 1" in report
    assert json.loads(out)["interrupted"] is True
    assert not db.exists() and not Path(f"{db}-import.lock").exists()
    assert run(env, "import", str(big)).exit_code == 0
