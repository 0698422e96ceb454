"""Ctrl-C during a long ``memoryd add --file``, sent to the real console script: the report (stderr,
and with ``--json`` the partial result on stdout) says what was stored, and the store agrees.

It said only "interrupted" (exit 130) with nothing on stdout, though thousands of messages were
committed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Run, as_json

pytestmark = pytest.mark.slow

SCRIPT = shutil.which("memoryd", path=str(Path(sys.executable).parent)) or shutil.which("memoryd")


def _messages(path: Path, count: int) -> Path:
    with path.open("w") as out:
        for i in range(count):
            out.write(json.dumps({"role": "user", "content": f"note {i} on subject {i % 37}"}) + "\n")
    return path


def _committed(db: Path) -> int:
    """Memories in the store as another process sees it (0 while it does not exist yet)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM memories").fetchone()[0])
    except sqlite3.Error:
        return 0


class _Adding:
    """``memoryd add --file`` running in a subprocess, its stderr read line by line as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        assert SCRIPT, "the memoryd console script is not installed (pip install -e .)"
        self.proc = subprocess.Popen(
            [SCRIPT, "add", *args, "--json"], env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.out: list[str] = []  # read as it comes too: a pipe that fills up would block it
        self.err: list[str] = []
        self.readers = [
            threading.Thread(target=self._read, args=(pipe, into), daemon=True)
            for pipe, into in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _read(pipe: Any, into: list[str]) -> None:
        for line in pipe:
            into.append(line)

    def wait_for(self, done: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert self.proc.poll() is None, f"memoryd add ended before {what}: {''.join(self.err)}"
            assert time.monotonic() < deadline, f"no {what} in {timeout} s: {''.join(self.err)}"
            time.sleep(0.01)

    def close(self) -> None:
        """End the process if a failed test left it running (this process only), and its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)
        for reader in self.readers:
            reader.join(timeout=10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def finish(self) -> tuple[int, dict[str, Any], str]:
        self.proc.wait(timeout=60)
        for reader in self.readers:
            reader.join(timeout=10)
        out, stderr = "".join(self.out), "".join(self.err)
        assert "Traceback" not in stderr + out, stderr
        assert out.strip(), f"nothing on stdout; stderr: {stderr}"
        return self.proc.returncode, json.loads(out), stderr


@pytest.fixture
def adding(clean_env: dict[str, str]) -> Iterator[Callable[..., _Adding]]:
    """Starts ``memoryd add ARGS --json`` on the test's store (extra environment variables as
    keywords); whatever a test leaves running is ended."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    started: list[_Adding] = []

    def start(*args: str, **env: str) -> _Adding:
        started.append(_Adding(list(args), {**clean, **clean_env, "HF_HUB_OFFLINE": "1", **env}))
        return started[-1]

    yield start
    for one in started:
        one.close()


def _episodes(doc: dict[str, Any]) -> list[int]:
    return [r["index"] for r in doc["results"] if r["kind"] == "episode"]


def _total(run: Run) -> int:
    return int(as_json(run("list", "-u", "bulk", "--limit", "1", "--json"))["total"])


def test_ctrl_c_reports_what_was_stored_and_the_store_agrees(
    run: Run, adding: Callable[..., _Adding], db_path: Path, tmp_path: Path
) -> None:
    path = _messages(tmp_path / "msgs.jsonl", 20_000)
    add = adding("-f", str(path), "-u", "bulk")
    add.wait_for(lambda: _committed(db_path) > 0, "first committed batch")
    add.proc.send_signal(signal.SIGINT)  # lands while a later batch is being written
    code, doc, stderr = add.finish()

    assert code == 130, stderr
    stored = doc["stored"]
    assert doc["interrupted"] is True and 0 < stored < 20_000 and stored % 200 == 0, doc.keys()
    assert _episodes(doc) == list(range(stored))  # the results of what was stored, numbered in the file
    assert (
        f"interrupted: messages[{stored}] onwards were not stored, but the {stored} before them were "
        f"(messages[0]–[{stored - 1}]); the same add again stores only the rest (duplicates are NOOP)"
    ) in stderr.replace("\n", " ")
    assert "maybe_stored" not in doc  # the batch in hand was finished, not cut short
    assert _total(run) == stored  # the batch being written when Ctrl-C came is in the count: committed


def test_a_second_ctrl_c_stops_the_batch_in_hand_and_calls_it_maybe_stored(
    run: Run, adding: Callable[..., _Adding], db_path: Path, tmp_path: Path
) -> None:
    path = _messages(tmp_path / "msgs.jsonl", 12_000)
    limit = {"MEMORYD_LIMITS__MAX_MESSAGES_PER_ADD": "2000"}
    add = adding("-f", str(path), "-u", "bulk", "--batch-size", "2000", **limit)
    add.wait_for(lambda: _committed(db_path) > 0, "first committed batch")
    time.sleep(0.2)  # off the moment between two batches: into the second, which takes a second
    add.proc.send_signal(signal.SIGINT)
    add.wait_for(lambda: any("the batch being written" in line for line in add.err), "notice")
    add.proc.send_signal(signal.SIGINT)  # that batch is still in hand
    code, doc, stderr = add.finish()

    assert code == 130, stderr
    stored, maybe = doc["stored"], doc["maybe_stored"]
    assert doc["interrupted"] is True and stored >= 2000 and maybe == 2000, doc
    assert _episodes(doc) == list(range(stored))
    assert (
        f"messages[0]–[{stored - 1}] were stored, messages[{stored}]–[{stored + maybe - 1}] were being "
        "written when a second Ctrl-C stopped them and may or may not be stored, "
        f"messages[{stored + maybe}] onwards were not stored"
    ) in stderr.replace("\n", " ")
    assert _total(run) in (stored, stored + maybe)  # never fewer than claimed stored, nor more than maybe
