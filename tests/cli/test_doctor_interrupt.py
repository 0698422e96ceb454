"""Ctrl-C during ``memoryd doctor`` (a check waiting on a server that does not answer) exited 130
without a word, and with ``--json`` left stdout empty; it now says "interrupted" on stderr and,
with ``--json``, prints the one JSON document every command prints when interrupted."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("json_out", [True, False])
def test_ctrl_c_during_doctor_says_interrupted_and_exits_130(tmp_path: Path, json_out: bool) -> None:
    with socket.socket() as silent:  # a "Qdrant" that takes the connection and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent.settimeout(120)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
        env |= {
            "MEMORYD_STORAGE__PATH": str(tmp_path / "memoryd.db"), "MEMORYD_SERVER__PORT": "0",
            "MEMORYD_STORAGE__VECTORS": "qdrant", "MEMORYD_STORAGE__QDRANT__TIMEOUT": "300",
            "MEMORYD_STORAGE__QDRANT__URL": f"http://127.0.0.1:{silent.getsockname()[1]}",
            "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT),
        }  # fmt: skip
        args = [sys.executable, "-m", "memoryd", "doctor", *(["--json"] if json_out else [])]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            conn, _ = silent.accept()  # the doctor is in its backend check, waiting for an answer
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=120)
            conn.close()
        finally:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1:] == ["interrupted"], err
    if json_out:
        assert json.loads(out) == {"interrupted": True}
    else:
        assert out == ""
