"""A command run with stdout closed (``memoryd list --json >&-``, a service manager that closes it):
every ``--json`` command ended in a traceback (AttributeError: 'NoneType' object has no attribute
'write'), after doing its work, and a table was lost without a word (exit 0). Now it is one line on
stderr and exit 1, as a full disk is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Run

ROOT = Path(__file__).resolve().parents[2]
CASES = [
    (["list", "-u", "ana", "--json"], []),
    (["--json", "check"], []),
    (["add", "I like green tea", "-u", "ana", "--json"], []),
    (["get", "no-such-id", "--json"], ["error: no memory with id 'no-such-id' (field: memory_id)"]),
    (["list", "-u", "ana"], []),  # a table, as much as JSON: it was lost without a word (exit 0)
    (["search", "tea", "-u", "ana"], []),
    (["config", "show"], []),
]


@pytest.mark.parametrize(("args", "before"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_output_to_a_closed_stdout_is_one_line_and_exit_1(
    run: Run, db_path: Path, args: list[str], before: list[str]
) -> None:
    assert run("add", "I like tea", "-u", "ana").exit_code == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    env |= {"MEMORYD_STORAGE__PATH": str(db_path), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    closed = subprocess.run(
        [sys.executable, "-m", "memoryd", *args], env=env, stdout=None, stderr=subprocess.PIPE, text=True,
        timeout=120, check=False, preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert closed.returncode == 1, closed.stderr
    assert closed.stderr.splitlines() == [*before, "error: cannot write the output: stdout is closed"]
