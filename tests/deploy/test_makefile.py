"""The Makefile's first step on a fresh machine: making ``.venv``. A Debian or Ubuntu machine
with only ``python3.11`` (no ``python3-venv``, so no ``ensurepip``) fails there, and so does an
older ``python3``; the next ``make serve``, after the fix its message names, must make the
venv afresh rather than reuse the one that failed. Run on copies of the Makefile, with real
interpreters: one is this machine's Python with its ``ensurepip`` left out, as Debian ships it."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _checkout(tmp_path: Path) -> Path:
    """A folder holding what the Makefile's venv and install steps read."""
    folder = tmp_path / "checkout"
    folder.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, folder / name)
    return folder


def _make(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # No package index: nothing here may reach PyPI (an install that runs fails at once).
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_RETRIES": "0"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        ["make", "-C", str(folder), *args], capture_output=True, text=True, timeout=300, env=env
    )


def _python_without_ensurepip(tmp_path: Path) -> Path:
    """This machine's Python, copied, with its standard library but ``ensurepip``: what Debian's
    ``python3.11`` is without ``python3.11-venv``."""
    debian = Path("/usr/bin/python3.11")  # the interpreter of the machine in question, if here
    if debian.exists() and Path("/usr/lib/python3.11/venv").is_dir():
        base, stdlib = debian, Path("/usr/lib/python3.11")
    else:
        base = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
        stdlib = Path(sysconfig.get_path("stdlib"))
    prefix = tmp_path / "bare"
    version = stdlib.name  # python3.11
    (prefix / "bin").mkdir(parents=True)
    lib = prefix / "lib" / version
    lib.mkdir(parents=True)
    exe = prefix / "bin" / version
    shutil.copy2(base, exe)
    for entry in stdlib.iterdir():
        if entry.name not in ("ensurepip", "site-packages", "dist-packages"):
            (lib / entry.name).symlink_to(entry)
    dynload = stdlib / "lib-dynload"
    if not dynload.exists():  # some builds keep it elsewhere
        found = [p for p in sys.path if p.endswith("lib-dynload")]
        if found:
            (lib / "lib-dynload").symlink_to(found[0])
    probe = subprocess.run(
        [str(exe), "-c", "import venv\ntry:\n import ensurepip\nexcept ImportError:\n print('bare')"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.stdout.strip() != "bare":
        pytest.skip(f"cannot make a Python without ensurepip here: {probe.stderr[-300:]}")
    return exe


def _older_python() -> str | None:
    """A working Python older than 3.11 on this machine, if there is one."""
    candidates = [shutil.which(f"python3.{minor}") for minor in range(8, 11)]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[0]*/bin/python3")))
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.[89]*/bin/python3")))
    for candidate in filter(None, candidates):
        done = subprocess.run(
            [candidate, "-c", "import sys, venv; print(sys.version_info < (3, 11))"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode == 0 and done.stdout.strip() == "True":
            return candidate
    return None


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_venv_that_failed_for_want_of_python3_venv_is_made_afresh_next_time(tmp_path: Path) -> None:
    folder = _checkout(tmp_path)
    bare = _python_without_ensurepip(tmp_path)
    done = _make(folder, f"PYTHON={bare}", "serve")
    assert done.returncode != 0
    # Nothing is left for the next run to take for a working venv (before: a venv without pip,
    # and every later `make serve` ran `.venv/bin/python -m pip` in it: "No module named pip").
    assert not (folder / ".venv").exists() and not (folder / ".venv").is_symlink()
    assert "apt install python3-venv" in done.stderr, done.stdout + done.stderr  # says what to do
    plan = _make(folder, "-n", "serve")
    assert plan.returncode == 0, plan.stderr
    assert "-m venv .venv" in plan.stdout  # the fixed machine's next `make serve` makes it anew


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_an_older_python_is_refused_before_a_venv_is_made_with_it(tmp_path: Path) -> None:
    older = _older_python()
    if older is None:
        pytest.skip("no Python older than 3.11 on this machine")
    folder = _checkout(tmp_path)
    done = _make(folder, f"PYTHON={older}", "serve")
    assert done.returncode != 0
    assert "needs Python 3.11 or newer" in done.stderr and "PYTHON=python3.11" in done.stderr
    # Before: a venv of the old Python was made, and `make PYTHON=python3.11 serve` reused it.
    assert not (folder / ".venv").exists()
    plan = _make(folder, "-n", "PYTHON=python3.11", "serve")
    assert "python3.11 -m venv .venv" in plan.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_every_target_the_readme_and_ci_use_has_a_plan(tmp_path: Path) -> None:
    folder = _checkout(tmp_path)
    readme = (ROOT / "README.md").read_text()
    for target in ("serve", "test", "doctor", "bench", "clean"):
        assert f"make {target}" in readme or target in ("doctor", "clean"), target
        plan = _make(folder, "-n", target)
        assert plan.returncode == 0, (target, plan.stderr)
    test_plan = _make(folder, "-n", "test").stdout
    for step in ("ruff check memoryd tests", "mypy memoryd", "-m pytest"):
        assert step in test_plan, step
    assert "make test" in (ROOT / ".ci" / "run").read_text()
