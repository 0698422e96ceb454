"""The CLI's output into a pipe whose reader stops reading.

A reader that goes away (``memoryd list | head -1``) ends every command alike: quietly, exit 1.
A large output that the pipe had taken part of when its reader left was cut short without a word,
exit 0 (Python's text layer drops what a write did not take), while a command printing in several
writes (``context``, ``doctor``, ``config show``) ended through rich's own handling, exit 1.

Ctrl-C while the output waits on a full pipe left truncated JSON on stdout and exited 130 with
nothing said; it now says "interrupted" on stderr (what stdout got is cut short, and no second
JSON document is written after it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Run

ROOT = Path(__file__).resolve().parents[2]
# One write far past a pipe's 64 KiB: the table of 400 memories is ~140 kB, its JSON ~320 kB.
LARGE = [["list", "-u", "ana", "-n", "400"], ["list", "-u", "ana", "-n", "400", "--json"]]


@pytest.fixture
def env(run: Run, db_path: Path, tmp_path: Path) -> dict[str, str]:
    """A store holding 400 memories of ana; the environment for ``python -m memoryd`` on it."""
    lines = [f'"I like tea number {i}, brewed in a clay pot from the hills above the river {i}"' for i in range(400)]
    (tmp_path / "many.jsonl").write_text("\n".join(lines) + "\n")
    added = run("add", "--file", str(tmp_path / "many.jsonl"), "-u", "ana")
    assert added.exit_code == 0, added.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    return env | {"MEMORYD_STORAGE__PATH": str(db_path), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "memoryd", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@pytest.mark.parametrize("args", LARGE, ids=" ".join)
def test_a_reader_leaving_mid_output_ends_the_command_quietly_with_exit_1(
    env: dict[str, str], args: list[str]
) -> None:
    with _start(args, env) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        # Its first byte read: memoryd is inside the one write of its output, which the pipe cannot hold.
        assert os.read(proc.stdout.fileno(), 1)
        proc.stdout.close()  # the reader goes away (as `head -1` does)
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 1, stderr  # was 0: the rest dropped without a word
    assert stderr == ""


CASES = [
    *LARGE,
    ["context", "tea", "-u", "ana", "--budget", "2000"],
    ["context", "tea", "-u", "ana", "--json"],
    ["doctor"],
    ["config", "show"],
    ["get", "no-such-id"],
]


@pytest.mark.parametrize("args", CASES, ids=" ".join)
def test_a_reader_gone_before_the_output_ends_every_command_quietly(env: dict[str, str], args: list[str]) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader left before memoryd wrote a byte
    try:
        ended = subprocess.run([sys.executable, "-m", "memoryd", *args], env=env, stdout=write,
                               stderr=subprocess.PIPE, text=True, timeout=120, check=False)  # fmt: skip
    finally:
        os.close(write)
    assert ended.returncode == 1, ended.stderr
    # An error is still said (it goes to stderr); the lost output is not.
    said = ["error: no memory with id 'no-such-id' (field: memory_id)"] if args[0] == "get" else []
    assert ended.stderr.splitlines() == said


@pytest.mark.parametrize("args", LARGE, ids=" ".join)
def test_ctrl_c_while_the_output_waits_on_a_full_pipe_says_interrupted(
    env: dict[str, str], args: list[str]
) -> None:
    proc = _start(args, env)
    assert proc.stdout is not None
    # Its first byte read and no more: memoryd's one write of its output waits on the full pipe.
    first = os.read(proc.stdout.fileno(), 1)
    proc.send_signal(signal.SIGINT)
    rest, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    said = stderr.decode()
    assert "interrupted" in said and "Traceback" not in said, said  # was nothing at all
    out = first + rest
    assert out.count(b'"interrupted"') == 0  # no JSON document appended to the cut-short one
