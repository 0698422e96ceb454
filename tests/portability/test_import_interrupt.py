"""Ctrl-C (a real SIGINT) stops ``memoryd import`` saying what it wrote and how to finish, and the
same import run again names the import that did not finish: into a store that held memories
already (what it wrote stays there), and into a new one (removed)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from memoryd.embedders.use import USEEmbedder
from memoryd.portability.leftovers import unfinished_import
from tests.fakes.llm_server import Script
from tests.portability.conftest import filled_export
from tests.portability.test_import_leftovers import ROOT, _big, _memories, run  # noqa: F401
from tests.portability.test_import_lock import _finish, _memory_lines, _wait_until

CLONES = 3000


def _start(big: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    return subprocess.Popen(
        [sys.executable, "-m", "memoryd", "import", str(big), "--batch-size", "1", "--json"],
        cwd=ROOT, env={**base, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _with_history(whole: Path, out: Path, clones: int, user: str = "clone", **fields: object) -> list[str]:
    """``whole`` with ``clones`` more memories, each with its ``ADD`` history row: as an export
    writes them, every memory line before every history line. Returns the clones' ids."""
    rows = [json.loads(line) for line in whole.read_text().splitlines()]
    first = next(r for r in rows if r["type"] == "memory")
    ids = [str(uuid.uuid4()) for _ in range(clones)]
    extra = [{**first, "id": i, "user_id": user, "run_id": None, **fields} for i in ids]
    added = next(r for r in rows if r["type"] == "history" and r["event"] == "ADD")
    said = [{**added, "memory_id": i, "user_id": user, "agent_id": None, "run_id": None} for i in ids]
    last = max(n for n, r in enumerate(rows) if r["type"] == "memory")
    rows[last + 1 : last + 1] = extra
    last = max(n for n, r in enumerate(rows) if r["type"] == "history")
    rows[last + 1 : last + 1] = said
    rows[-1]["counts"]["memory"] += clones
    rows[-1]["counts"]["history"] += clones
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ids


def _said(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.timeout(600)
def test_ctrl_c_into_a_store_that_held_memories_says_what_it_wrote_and_how_to_finish(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, run: Callable[..., Result]  # noqa: F811
) -> None:
    _, whole = asyncio.run(filled_export(tmp_path, fake_llm, embedder))
    big = tmp_path / "big.jsonl"
    clones = _with_history(whole, big, CLONES)
    db = tmp_path / "held" / "a.db"
    env = {"MEMORYD_STORAGE__PATH": str(db)}
    added = run(env, "add", "--mode", "fast", "-u", "zoe", "I like green tea")
    assert added.exit_code == 0, added.stderr
    held = _memories(db)

    child = _start(big, env)
    _wait_until(child, lambda: _memories(db) > held + 20)
    child.send_signal(signal.SIGINT)
    code, out, err = _finish(child)
    assert code == 130, err
    report = _said(err)
    document = json.loads(out)
    assert document["interrupted"] is True and document["store"] == str(db)
    written = document["written"]["memory"]
    assert _memories(db) == held + written  # what it says it wrote is what the store holds
    assert report.startswith(f"interrupted: {written} memories") and f"of {big} were written into {db}" in report
    assert f"To finish, run: memoryd import --restart {big} --batch-size 1" in report
    assert document["finish"] == f"memoryd import --restart {big} --batch-size 1"

    again = run(env, "import", str(big))  # the same file again: the unfinished import is named
    assert again.exit_code == 1
    assert f"an import of {big} into this store did not finish" in _said(again.stderr), again.stderr
    assert f"`memoryd import --restart {big}`" in _said(again.stderr)

    finished = run(env, "import", "--restart", str(big))  # the fix it names
    assert finished.exit_code == 0, finished.stderr
    checked = run(env, "check")
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    assert _memories(db) == held + CLONES + _memory_lines(whole)
    # A memory it had written (not yet its history), removed by that fix and imported again: its
    # history is the file's, as if the interrupted import had never been.
    rows = json.loads(run(env, "history", clones[0], "--json").stdout)["results"]
    assert [r["event"] for r in rows] == ["ADD"], rows


@pytest.mark.timeout(600)
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopped_into_a_new_store_says_nothing_is_left(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, run: Callable[..., Result], stop: int  # noqa: F811
) -> None:
    """Ctrl-C, and SIGTERM (`kill PID`, `timeout`, a service manager or `docker stop`): the import
    cleans up after itself, rather than leave a store only `--restart` can clear."""
    _, whole = asyncio.run(filled_export(tmp_path, fake_llm, embedder))
    big = tmp_path / "big.jsonl"
    _big(whole, big, CLONES)
    db = tmp_path / "new" / "a.db"
    env = {"MEMORYD_STORAGE__PATH": str(db)}

    child = _start(big, env)
    _wait_until(child, lambda: bool(unfinished_import(db)) and _memories(db) > 20)
    child.send_signal(stop)
    code, out, err = _finish(child)
    assert code == 130, err
    report = _said(err)
    assert f"nothing was imported, and no store is left at {db}" in report, report
    assert f"run it again: memoryd import {big} --batch-size 1" in report
    assert json.loads(out)["interrupted"] is True
    assert not db.exists() and not Path(f"{db}-import.lock").exists()
    assert run(env, "import", str(big)).exit_code == 0
