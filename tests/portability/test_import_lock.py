"""``memoryd import`` holds a lock for its whole run, and its clean-up removes only what it made:
real imports in other processes, stopped with a real SIGINT or SIGKILL, another import or a
``--restart`` of the same store started while one runs, and a local-mode folder of Qdrant or
Milvus Lite that was there before the import, holding other files."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.portability.importing import (
    FEW_CLONES,
    everything,
    finish,
    memories,
    memory_lines,
    midway,
    paused,
    said,
    start,
    stop,
    told,
    wait_until,
    with_clones,
)

SUFFIX = "-import.lock"  # the import lock beside the store (memoryd.portability.import_lock)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("engine", ["qdrant", "milvus"])
def test_an_interrupted_or_killed_import_keeps_a_local_mode_folder_that_was_there(
    tmp_path: Path, stores: Path, whole: Path, engine: str, run: Callable[..., Result]
) -> None:
    big = tmp_path / "big.jsonl"
    with_clones(whole, big, FEW_CLONES)
    shared = stores / "shared.db"  # Milvus Lite's path ends in .db
    (shared / "sub").mkdir(parents=True)
    (shared / "keep.txt").write_text("mine")
    (shared / "sub" / "other.bin").write_bytes(b"\x00\x01")
    db = stores / "q" / "a.db"
    env = {"MEMORYD_STORAGE__PATH": str(db), "MEMORYD_STORAGE__VECTORS": engine,
           f"MEMORYD_STORAGE__{engine.upper()}__PATH": str(shared)}  # fmt: skip

    code, _, err = stop(start(big, env), midway(db), signal.SIGINT)  # the import cleans up after itself
    assert code == 130, err
    assert (shared / "keep.txt").read_text() == "mine" and (shared / "sub" / "other.bin").read_bytes() == b"\x00\x01"
    assert everything(stores / "q") == [], err  # what it made is gone (its clients closed first)

    stop(start(big, env), midway(db), signal.SIGKILL)  # kill -9: `--restart` removes what it made
    restarted = run(env, "import", "--restart", str(whole))
    assert restarted.exit_code == 0, restarted.stderr
    assert (shared / "keep.txt").read_text() == "mine" and (shared / "sub" / "other.bin").read_bytes() == b"\x00\x01"
    checked = run(env, "check")
    assert checked.exit_code == 0, told(checked)
    assert memories(db) == memory_lines(whole)
    assert not Path(f"{db}{SUFFIX}").exists()


def _checks_whole(run: Callable[..., Result], env: dict[str, str], db: Path, whole: Path) -> None:
    """The store holds the big export whole, checks clean, and the import's lock file is gone."""
    checked = run(env, "check")
    assert checked.exit_code == 0, told(checked)
    assert memories(db) == FEW_CLONES + memory_lines(whole)
    assert not Path(f"{db}{SUFFIX}").exists()  # the lock file goes with the import


@pytest.mark.timeout(600)
def test_a_second_import_into_the_same_new_store_is_refused_at_once_and_the_first_finishes(
    tmp_path: Path, stores: Path, whole: Path, run: Callable[..., Result]
) -> None:
    big = tmp_path / "big.jsonl"
    db = stores / "tgt" / "a.db"
    with_clones(whole, big, FEW_CLONES)
    env = {"MEMORYD_STORAGE__PATH": str(db)}
    first = start(big, env)
    wait_until(first, db.exists)
    with paused(first):  # the import still runs (stopped where it is) while the test acts
        started = time.monotonic()
        second = run(env, "import", str(big))
        assert second.exit_code == 1 and "another `memoryd import`" in told(second), told(second)
        assert time.monotonic() - started < 30  # at once, not once the first is done
        assert first.poll() is None  # still running: the refusal did not wait for it

    code, out, err = finish(first)
    assert code == 0 and f"imported {FEW_CLONES + memory_lines(whole)} memories" in said(out), err
    _checks_whole(run, env, db, whole)


@pytest.mark.timeout(600)
def test_restart_is_refused_while_the_import_still_runs_and_the_import_finishes(
    tmp_path: Path, stores: Path, whole: Path, run: Callable[..., Result]
) -> None:
    big = tmp_path / "big.jsonl"
    db = stores / "tgt" / "a.db"
    with_clones(whole, big, FEW_CLONES)
    env = {"MEMORYD_STORAGE__PATH": str(db)}
    child = start(big, env)
    wait_until(child, midway(db))  # what --restart removes
    with paused(child):  # the import still runs (stopped where it is) while the test acts
        refused = run(env, "import", "--restart", str(whole))
        assert refused.exit_code == 1 and "another `memoryd import`" in told(refused), told(refused)
        assert child.poll() is None

    code, _, err = finish(child)
    assert code == 0, err
    _checks_whole(run, env, db, whole)
