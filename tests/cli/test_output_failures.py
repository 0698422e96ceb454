"""The CLI when its output fails or it is interrupted: one line on stderr and an exit code (never
a traceback), and with --json still one JSON document on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from memoryd.cli.output import Output, errors_to_exit

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["list", "-u", "ana"], ["search", "tea", "-u", "ana", "--json"]])
def test_stdout_on_a_full_disk_is_one_line_and_exit_1(tmp_path: Path, args: list[str]) -> None:
    env = {**os.environ, "MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"), "PYTHONPATH": str(ROOT)}
    made = subprocess.run([sys.executable, "-m", "memoryd", "add", "I like tea", "-u", "ana"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert made.returncode == 0, made.stderr
    with open("/dev/full", "w") as full:
        failed = subprocess.run([sys.executable, "-m", "memoryd", *args], env=env, stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=120)  # fmt: skip
    assert failed.returncode == 1
    assert failed.stderr.strip() == "error: cannot write the output: No space left on device", failed.stderr


def test_an_interrupt_in_json_mode_still_writes_one_json_document(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as ended, errors_to_exit(Output(json_mode=True)):
        raise KeyboardInterrupt
    assert ended.value.exit_code == 130
    assert json.loads(capsys.readouterr().out) == {"interrupted": True}
