"""The installed ``memoryd`` console script, in real subprocesses (each loads the model once)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = shutil.which("memoryd", path=str(Path(sys.executable).parent)) or shutil.which("memoryd")


def _memoryd(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert SCRIPT, "the memoryd console script is not installed (pip install -e .)"
    return subprocess.run([SCRIPT, *args], env=env, capture_output=True, text=True, timeout=90, check=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    return {**clean, "MEMORYD_STORAGE__PATH": str(tmp_path / "memoryd.db"), "HF_HUB_OFFLINE": "1"}


def test_help_and_version(env: dict[str, str]) -> None:
    result = _memoryd("--help", env=env)
    assert result.returncode == 0, result.stderr
    for command in ("serve", "add", "search", "list", "get", "delete", "history", "doctor", "config"):
        assert command in result.stdout
    assert _memoryd("--version", env=env).stdout.strip() == "memoryd 0.1.0"


def test_add_then_search_json_round_trip(env: dict[str, str]) -> None:
    added = _memoryd(
        "add", "I visited Lisbon last spring", "My sister lives in Berlin", "-u", "alice", "--json", env=env
    )
    assert added.returncode == 0, added.stderr
    assert [r["event"] for r in json.loads(added.stdout)["results"]] == ["ADD", "ADD"]

    found = _memoryd("search", "where did alice travel?", "--user-id", "alice", "--json", env=env)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["results"]  # stdout is exactly one JSON document
    assert hits[0]["text"] == "I visited Lisbon last spring"
    assert {h["user_id"] for h in hits} == {"alice"}


def test_expected_errors_have_no_traceback(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[server]\nprot = 1\n")
    result = _memoryd("--config", str(config), "list", "-u", "alice", env=env)
    assert result.returncode == 2
    assert (
        result.stderr.startswith("error: unknown setting 'server.prot'") and "Traceback" not in result.stderr
    )
