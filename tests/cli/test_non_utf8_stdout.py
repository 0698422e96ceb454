"""A stdout that is not UTF-8 (``PYTHONIOENCODING=ascii``, a latin-1 locale, a Windows code page):
every table, tree or doctor report holding one character it has no code for (an 'é' in a memory,
the '–' of "memories 1–1", doctor's '✓') ended in a traceback after the work was done, ``--json``
too, and ``export -`` stopped at the first such memory. Now a human view writes '?' for it, the JSON
and the export lose nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Run

ROOT = Path(__file__).resolve().parents[2]
TEXT = "café ☕ naïve — 日本"


# The commands, one after another in one new process (one start, one model load, not six): before
# each, stdout is put back as such a process starts with it (the encoding PYTHONIOENCODING names,
# strict), since a command may reconfigure it; after each, a marker with its exit code.
CHILD = """
import json, sys
from memoryd.cli.commands import main
encoding = sys.stdout.encoding
for args in json.loads(sys.argv[1]):
    sys.stdout.reconfigure(encoding=encoding, errors="strict")
    sys.argv = ["memoryd", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.stdout.buffer.write(b"\\0%d\\0\\n" % code)
    sys.stdout.buffer.flush()
    sys.stderr.buffer.write(b"\\0\\n")
    sys.stderr.buffer.flush()
"""


def _memoryd(db_path: Path, encoding: str, *commands: list[str]) -> list[tuple[int, bytes, bytes]]:
    """Each command's exit code, stdout and stderr, run as ``memoryd`` with stdout in ``encoding``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    env |= {
        "MEMORYD_STORAGE__PATH": str(db_path), "MEMORYD_SERVER__PORT": "0", "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": encoding,
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(commands)], env=env, capture_output=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    outs = re.split(rb"\0(\d+)\0\n", done.stdout)
    errs = done.stderr.split(b"\0\n")
    assert len(outs) == 2 * len(commands) + 1 and len(errs) == len(commands) + 1, (done.stdout, done.stderr)
    return [(int(outs[2 * n + 1]), outs[2 * n], errs[n]) for n in range(len(commands))]


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_views_json_and_export_on_a_stdout_that_is_not_utf8(run: Run, db_path: Path, encoding: str) -> None:
    assert run("add", TEXT, "-u", "ana").exit_code == 0
    views = [["list", "-u", "ana"], ["search", "café", "-u", "ana"], ["tree", "-u", "ana"], ["doctor"]]
    json_list, export = ["list", "-u", "ana", "--json"], ["export", "-", "-u", "ana"]
    *shown, listed, exported = _memoryd(db_path, encoding, *views, json_list, export)
    for args, (code, stdout, stderr) in zip(views, shown, strict=True):
        assert b"Traceback" not in stderr, (args, stderr.decode(errors="replace"))
        assert code == 0, (args, stderr.decode(errors="replace"))
        if args[0] != "doctor":
            assert "caf" in stdout.decode(encoding), args
    assert listed[0] == 0, listed[2].decode(errors="replace")
    assert json.loads(listed[1].decode(encoding))["results"][0]["memory"] == TEXT
    assert exported[0] == 0, exported[2].decode(errors="replace")
    lines = [json.loads(line) for line in exported[1].decode("utf-8").splitlines()]
    assert [d["text"] for d in lines if d["type"] == "memory"] == [TEXT]
