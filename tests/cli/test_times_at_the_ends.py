"""A memory said at the first or last minute the calendar holds (``--timestamp
0001-01-01T00:00:00Z``, ``9999-12-31T23:59:59Z``, both accepted) ended ``memoryd list`` and
``search`` in a traceback (``OverflowError: date value out of range``) wherever the local time
zone put that minute outside years 1 to 9999 (west of UTC for the first, east for the last): the
tables show times in local time. Now such a time is shown in UTC, marked so; and year 1 is
written 0001, not 1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Run

SCRIPT = shutil.which("memoryd", path=str(Path(sys.executable).parent)) or shutil.which("memoryd")


def _cli(db_path: Path, zone: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The console script in another process: a time zone is read once, at a process's start."""
    assert SCRIPT, "the memoryd console script is not installed (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    env |= {"MEMORYD_STORAGE__PATH": str(db_path), "TZ": zone, "COLUMNS": "200"}
    return subprocess.run([SCRIPT, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("said", "zone", "shown"),
    [
        ("0001-01-01T00:00:00Z", "America/New_York", "0001-01-01 00:00 UTC"),
        ("9999-12-31T23:59:59Z", "Asia/Tokyo", "9999-12-31 23:59 UTC"),
        ("0001-01-01T12:00:00Z", "UTC", "0001-01-01 12:00"),
    ],
)
def test_a_time_at_the_calendars_ends_is_shown(run: Run, db_path: Path, said: str, zone: str, shown: str) -> None:
    assert run("add", "the edge of time", "-u", "ana", "--timestamp", said).exit_code == 0
    for args in (["list", "-u", "ana"], ["search", "edge of time", "-u", "ana"]):
        result = _cli(db_path, zone, *args)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        assert shown in result.stdout, result.stdout
