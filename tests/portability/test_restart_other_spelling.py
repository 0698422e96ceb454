"""An import stopped by Ctrl-C into a store that held memories is finished by `--restart` with
the same file however it is spelled: the command it names, run from another folder, names the
file by its absolute path; and `--restart` given the file's absolute path, after an import given
a relative one, undoes and imports it (it was refused as "an import of FILE did not finish",
naming a relative path that did not work from there)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.portability.importing import (
    FEW_CLONES,
    ROOT,
    memories,
    said,
    start,
    stop,
    with_clones,
)


@pytest.mark.timeout(600)
def test_restart_takes_the_file_by_its_absolute_path_after_an_import_given_a_relative_one(
    tmp_path: Path, stores: Path, whole: Path, run: Callable[..., Result]
) -> None:
    big = tmp_path / "big.jsonl"
    with_clones(whole, big, FEW_CLONES)
    relative = Path(os.path.relpath(big, ROOT))  # as typed in the folder the import ran in
    db = stores / "held" / "a.db"
    env = {"MEMORYD_STORAGE__PATH": str(db)}
    assert run(env, "add", "--mode", "fast", "-u", "zoe", "I like green tea").exit_code == 0
    held = memories(db)

    code, _, err = stop(start(relative, env), lambda: memories(db) > held + 20, signal.SIGINT)
    assert code == 130, err

    checked = run(env, "check", "--json")  # from another folder: the file it names is the one imported
    assert checked.exit_code == 1
    assert f"(from {big})" in checked.stdout, checked.stdout

    other = run(env, "import", str(whole))  # another file: refused, naming the unfinished one usably
    assert other.exit_code == 1
    assert f"`memoryd import --restart {big}`" in said(other.stderr), other.stderr

    in_file = sum(json.loads(t)["type"] == "memory" for t in big.read_text(encoding="utf-8").splitlines())
    finished = run(env, "import", "--restart", str(big), "--json")
    assert finished.exit_code == 0, finished.stdout + finished.stderr
    assert json.loads(finished.stdout)["counts"]["memory"] == in_file
    assert run(env, "check").exit_code == 0
    assert memories(db) == held + in_file
