"""``memoryd delete --all`` run with no terminal to ask on, in a real subprocess.

With stdin not a terminal and giving no answer (``< /dev/null``: a cron job, a CI step) and no
``--yes``, the question cannot be answered: it exited 1, as a failed operation does, though it is
the command line that lacks ``--yes``. It is a usage error now (exit 2) whose message names
``--yes``; an answer piped in is still read, and a "no" is still a refusal (exit 1). The deletes
run in subprocesses (their stdin a real /dev/null or pipe); the add and the counts in this one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Run, as_json

pytestmark = pytest.mark.slow


def _memoryd(store: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    env = {**clean, "MEMORYD_STORAGE__PATH": str(store), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "memoryd", *args], env=env, capture_output=True, timeout=180,
        **({"input": stdin.decode()} if stdin is not None else {"stdin": subprocess.DEVNULL}), text=True,
    )  # fmt: skip


def test_delete_all_with_no_terminal_and_no_yes_is_a_usage_error_naming_yes(run: Run, db_path: Path) -> None:
    store = db_path
    assert run("add", "I keep bees on the roof", "-u", "ana").exit_code == 0

    def count() -> int:
        return int(as_json(run("list", "-u", "ana", "--json"))["total"])

    unasked = _memoryd(store, "delete", "--all", "--user-id", "ana")
    assert unasked.returncode == 2, (unasked.returncode, unasked.stderr)
    errors = [line for line in unasked.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "--yes" in errors[0] and "nothing deleted" in errors[0], unasked.stderr
    assert "Traceback" not in unasked.stderr

    scripted = _memoryd(store, "delete", "--all", "--user-id", "ana", "--json")
    assert scripted.returncode == 2, scripted.stderr
    error = json.loads(scripted.stdout)["error"]  # one JSON document on stdout
    assert error["field"] == "yes" and "--yes" in error["message"], error
    assert count() == 1  # nothing deleted

    declined = _memoryd(store, "delete", "--all", "--user-id", "ana", stdin=b"n\n")  # an answer: "no"
    assert declined.returncode == 1 and "nothing deleted" in declined.stderr, declined.stderr
    assert count() == 1
    piped = _memoryd(store, "delete", "--all", "--user-id", "ana", stdin=b"y\n")  # an answer piped in
    assert piped.returncode == 0 and "deleted 1 memory of" in piped.stdout, piped.stderr
    assert count() == 0
