"""Ctrl-C while the ``memoryd`` command is still loading (about half a second) printed a
KeyboardInterrupt traceback through the package's imports; it now ends as Ctrl-C in a command
does: "interrupted" on stderr, exit 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ctrl_c_while_the_command_loads_says_interrupted_and_exits_130(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    env |= {"MEMORYD_STORAGE__PATH": str(tmp_path / "memoryd.db"), "PYTHONPATH": str(ROOT)}
    # -X importtime reports each module as its import ends: once memoryd.errors is reported the
    # command's modules are loading (typer, rich, the config, the memory core are still to come).
    args = [sys.executable, "-X", "importtime", "-m", "memoryd", "list", "--user-id", "u"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        seen: list[str] = []
        for line in proc.stderr:
            seen.append(line)
            if line.rstrip().endswith("memoryd.errors"):
                proc.send_signal(signal.SIGINT)
                break
        else:
            raise AssertionError("memoryd.errors was never imported:\n" + "".join(seen))
        out, rest = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    err = "".join(line for line in rest.splitlines(keepends=True) if not line.startswith("import time:"))
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "interrupted" in err
    assert out == ""
