"""CLI fixtures: a tmp store, a clean MEMORYD_* environment and an in-process runner.

The runner reuses the session's embedder (primed into the CLI's per-process
cache), so each in-process command costs milliseconds rather than a model load.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from memoryd.cli import app
from memoryd.cli import output as cli_output
from memoryd.embedders.use import USEEmbedder

Run = Callable[..., Result]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "memoryd.db"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, db_path: Path) -> dict[str, str]:
    """No MEMORYD_* from the developer's shell; the store in this test's tmp dir."""
    for name in list(os.environ):
        if name.startswith("MEMORYD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MEMORYD_SERVER__PORT", "0")  # doctor's port check never depends on the host
    return {"MEMORYD_STORAGE__PATH": str(db_path)}


@pytest.fixture
def run(clean_env: dict[str, str], embedder: USEEmbedder, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    """``run("add", "text", "-u", "alice")`` → a click Result (stdout and stderr kept apart)."""
    monkeypatch.setitem(cli_output._EMBEDDERS, ("use", 2, 64), embedder)

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(app, list(args), input=input, env={**clean_env, **(env or {})})

    yield invoke


def as_json(result: Result) -> Any:
    """stdout must hold exactly one JSON document."""
    assert result.stdout.strip(), f"empty stdout; stderr: {result.stderr}"
    return json.loads(result.stdout)


def expect_error(result: Result, code: int, *needles: str) -> None:
    """An expected error: the exit code, one readable line on stderr, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, result.stderr)
