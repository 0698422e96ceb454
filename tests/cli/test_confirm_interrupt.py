"""Ctrl-C at the question of ``memoryd delete --all`` (on a terminal) was read as "no": exit 1 and
"error: nothing deleted (pass --yes ...)" written on the question's line, though an interrupt
exits 130. It now ends the question's line, says "interrupted: nothing deleted" and exits 130;
nothing is deleted. Run in a real subprocess on a pseudo-terminal, as a person at a terminal runs it."""

from __future__ import annotations

import os
import pty
import select
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Run, as_json

pytestmark = pytest.mark.slow


def _answer_at_terminal(store: Path, keys: bytes, *args: str) -> tuple[str, int]:
    """Run memoryd on a pseudo-terminal, type ``keys`` once it asks; what it wrote, its exit status."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    env |= {"MEMORYD_STORAGE__PATH": str(store), "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: memoryd, its stdin, stdout and stderr the terminal
        os.execve(sys.executable, [sys.executable, "-m", "memoryd", *args], env)
    out, typed = b"", False
    while True:
        ready, _, _ = select.select([fd], [], [], 120)
        if not ready:
            os.kill(pid, 9)
            break
        try:
            data = os.read(fd, 4096)
        except OSError:  # the child closed the terminal: it has exited
            break
        if not data:
            break
        out += data
        if not typed and b"[y/N]" in out:
            os.write(fd, keys)
            typed = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return out.decode(errors="replace"), os.waitstatus_to_exitcode(status)


def test_ctrl_c_at_the_question_is_an_interrupt_and_deletes_nothing(run: Run, db_path: Path) -> None:
    assert run("add", "I keep bees on the roof", "-u", "ana").exit_code == 0
    shown, code = _answer_at_terminal(db_path, b"\x03", "delete", "--all", "-u", "ana")
    assert code == 130, shown
    lines = shown.replace("\r", "").splitlines()
    asked = next(i for i, line in enumerate(lines) if "[y/N]" in line)
    assert lines[asked + 1] == "interrupted: nothing deleted", shown  # on a line of its own
    assert "error" not in shown and "Traceback" not in shown
    assert as_json(run("list", "-u", "ana", "--json"))["total"] == 1

    shown, code = _answer_at_terminal(db_path, b"n\r", "delete", "--all", "-u", "ana")
    assert code == 1 and "nothing deleted (pass --yes" in shown, shown  # a "no" is still a refusal
    assert as_json(run("list", "-u", "ana", "--json"))["total"] == 1
