"""``memoryd import`` holds a lock for its whole run, and its clean-up removes only what it made:
real imports in other processes, stopped with a real SIGINT or SIGKILL, another import or a
``--restart`` of the same store started while one runs, and a local-mode folder of Qdrant or
Milvus Lite that was there before the import, holding other files."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from memoryd.embedders.use import USEEmbedder
from memoryd.portability.leftovers import unfinished_import
from tests.fakes.llm_server import Script
from tests.portability.conftest import filled_export
from tests.portability.test_import_leftovers import ROOT, _big, _everything, _memories, run  # noqa: F401

CLONES = 3000
SUFFIX = "-import.lock"  # the import lock beside the store (memoryd.portability.import_lock)


def _start(big: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    return subprocess.Popen(
        [sys.executable, "-m", "memoryd", "import", str(big), "--batch-size", "1"],
        cwd=ROOT, env={**base, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _wait_until(child: subprocess.Popen[bytes], ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 300
    while not ready():
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
        assert time.monotonic() < deadline, "the import never got going"
        time.sleep(0.05)


def _finish(child: subprocess.Popen[bytes]) -> tuple[int, str, str]:
    out, err = child.communicate(timeout=600)
    return child.returncode, out.decode(), err.decode()


def _said(result: Result) -> str:
    return " ".join((result.stdout + result.stderr).split())


def _memory_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if '"type":"memory"' in line)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("engine", ["qdrant", "milvus"])
def test_an_interrupted_or_killed_import_keeps_a_local_mode_folder_that_was_there(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, engine: str, run: Callable[..., Result]  # noqa: F811
) -> None:
    _, whole = asyncio.run(filled_export(tmp_path, fake_llm, embedder))
    big = tmp_path / "big.jsonl"
    _big(whole, big, CLONES)
    shared = tmp_path / "shared.db"  # Milvus Lite's path ends in .db
    (shared / "sub").mkdir(parents=True)
    (shared / "keep.txt").write_text("mine")
    (shared / "sub" / "other.bin").write_bytes(b"\x00\x01")
    db = tmp_path / "q" / "a.db"
    env = {"MEMORYD_STORAGE__PATH": str(db), "MEMORYD_STORAGE__VECTORS": engine,
           f"MEMORYD_STORAGE__{engine.upper()}__PATH": str(shared)}  # fmt: skip

    child = _start(big, env)  # Ctrl-C midway: the import cleans up after itself
    _wait_until(child, lambda: bool(unfinished_import(db)) and _memories(db) > 20)
    child.send_signal(signal.SIGINT)
    code, _, err = _finish(child)
    assert code == 130, err
    assert (shared / "keep.txt").read_text() == "mine" and (shared / "sub" / "other.bin").read_bytes() == b"\x00\x01"
    assert _everything(tmp_path / "q") == [], err  # what it made is gone (its clients closed first)

    child = _start(big, env)  # kill -9 midway: `--restart` removes what that import made
    _wait_until(child, lambda: bool(unfinished_import(db)) and _memories(db) > 20)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    _finish(child)
    restarted = run(env, "import", "--restart", str(whole))
    assert restarted.exit_code == 0, restarted.stderr
    assert (shared / "keep.txt").read_text() == "mine" and (shared / "sub" / "other.bin").read_bytes() == b"\x00\x01"
    checked = run(env, "check")
    assert checked.exit_code == 0, _said(checked)
    assert _memories(db) == _memory_lines(whole)
    assert not Path(f"{db}{SUFFIX}").exists()


def _big_export(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder
) -> tuple[Path, Path, Path, dict[str, str]]:
    """An export, the same grown to CLONES more memories, the new store's path and its settings."""
    _, whole = asyncio.run(filled_export(tmp_path, fake_llm, embedder))
    big = tmp_path / "big.jsonl"
    _big(whole, big, CLONES)
    db = tmp_path / "tgt" / "a.db"
    return whole, big, db, {"MEMORYD_STORAGE__PATH": str(db)}


def _checks_whole(cli: Callable[..., Result], env: dict[str, str], db: Path, whole: Path) -> None:
    """The store holds the big export whole, checks clean, and the import's lock file is gone."""
    checked = cli(env, "check")
    assert checked.exit_code == 0, _said(checked)
    assert _memories(db) == CLONES + _memory_lines(whole)
    assert not Path(f"{db}{SUFFIX}").exists()  # the lock file goes with the import


@pytest.mark.timeout(600)
def test_a_second_import_into_the_same_new_store_is_refused_at_once_and_the_first_finishes(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, run: Callable[..., Result]  # noqa: F811
) -> None:
    whole, big, db, env = _big_export(tmp_path, fake_llm, embedder)
    first = _start(big, env)
    _wait_until(first, db.exists)
    started = time.monotonic()
    second = run(env, "import", str(big))
    assert second.exit_code == 1 and "another `memoryd import`" in _said(second), _said(second)
    assert time.monotonic() - started < 30  # at once, not once the first is done
    assert first.poll() is None  # still running: the refusal did not wait for it

    code, out, err = _finish(first)
    assert code == 0 and f"imported {CLONES + _memory_lines(whole)} memories" in " ".join(out.split()), err
    _checks_whole(run, env, db, whole)


@pytest.mark.timeout(600)
def test_restart_is_refused_while_the_import_still_runs_and_the_import_finishes(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, run: Callable[..., Result]  # noqa: F811
) -> None:
    whole, big, db, env = _big_export(tmp_path, fake_llm, embedder)
    child = _start(big, env)
    _wait_until(child, lambda: bool(unfinished_import(db)) and _memories(db) > 20)  # what --restart removes
    refused = run(env, "import", "--restart", str(whole))
    assert refused.exit_code == 1 and "another `memoryd import`" in _said(refused), _said(refused)
    assert child.poll() is None

    code, _, err = _finish(child)
    assert code == 0, err
    _checks_whole(run, env, db, whole)
