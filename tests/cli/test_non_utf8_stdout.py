"""A stdout that is not UTF-8 (``PYTHONIOENCODING=ascii``, a latin-1 locale, a Windows code page):
every table, tree or doctor report holding one character it has no code for (an 'é' in a memory,
the '–' of "memories 1–1", doctor's '✓') ended in a traceback after the work was done, ``--json``
too, and ``export -`` stopped at the first such memory. Now a human view writes '?' for it, the JSON
and the export lose nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Run

ROOT = Path(__file__).resolve().parents[2]
TEXT = "café ☕ naïve — 日本"


def _memoryd(db_path: Path, encoding: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    env |= {
        "MEMORYD_STORAGE__PATH": str(db_path), "MEMORYD_SERVER__PORT": "0", "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": encoding,
    }  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "memoryd", *args], env=env, capture_output=True, timeout=120, check=False
    )


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_views_json_and_export_on_a_stdout_that_is_not_utf8(run: Run, db_path: Path, encoding: str) -> None:
    assert run("add", TEXT, "-u", "ana").exit_code == 0
    for args in (["list", "-u", "ana"], ["search", "café", "-u", "ana"], ["tree", "-u", "ana"], ["doctor"]):
        done = _memoryd(db_path, encoding, *args)
        assert b"Traceback" not in done.stderr, (args, done.stderr.decode(errors="replace"))
        assert done.returncode == 0, (args, done.stderr.decode(errors="replace"))
        if args[0] != "doctor":
            assert "caf" in done.stdout.decode(encoding), args
    listed = _memoryd(db_path, encoding, "list", "-u", "ana", "--json")
    assert listed.returncode == 0, listed.stderr.decode(errors="replace")
    assert json.loads(listed.stdout.decode(encoding))["results"][0]["memory"] == TEXT
    exported = _memoryd(db_path, encoding, "export", "-", "-u", "ana")
    assert exported.returncode == 0, exported.stderr.decode(errors="replace")
    lines = [json.loads(line) for line in exported.stdout.decode("utf-8").splitlines()]
    assert [d["text"] for d in lines if d["type"] == "memory"] == [TEXT]
