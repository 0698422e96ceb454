"""``memoryd export -`` into a pipe whose reader goes away ends as every command does.

A reader that stops reading (``memoryd export - | head -c 100``) ends a command quietly with exit 1
(README: Errors). The export wrapped the broken pipe in an error of its own and said
"error: cannot write the export: Broken pipe (field: path)" on stderr; it now ends quietly like
``memoryd list | head -1``. A full disk behind stdout is still one error line
(tests/portability/test_cli.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(run: Run, db_path: Path) -> dict[str, str]:
    """A store holding a memory of ana; the environment for ``python -m memoryd`` on it."""
    added = run("add", "I like green tea", "-u", "ana")
    assert added.exit_code == 0, added.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    return env | {"MEMORYD_STORAGE__PATH": str(db_path), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize("target", ["-", "/dev/stdout"])
def test_an_export_to_stdout_whose_reader_left_ends_quietly_with_exit_1(
    env: dict[str, str], target: str
) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader left before memoryd wrote a byte (as `| head -c 0` does)
    try:
        ended = subprocess.run([sys.executable, "-m", "memoryd", "export", target], env=env, stdout=write,
                               stderr=subprocess.PIPE, text=True, timeout=120, check=False)  # fmt: skip
    finally:
        os.close(write)
    assert ended.returncode == 1, ended.stderr
    assert ended.stderr == ""  # was "error: cannot write the export: Broken pipe (field: path)"
