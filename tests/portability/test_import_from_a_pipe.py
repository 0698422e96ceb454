"""``memoryd import`` of a pipe (``cat x | memoryd import /dev/stdin``, ``<(zcat x.gz)``) or ``-``.

An import reads its file more than once (it checks it whole, then writes it), so a pipe read
empty the second time: into a store that held memories the import said "imported 0 memories",
exit 0, having imported nothing; into a new store it called the file empty. It is now refused
at once (exit 2) saying why and what to do, and the store is left as it was."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.cli.conftest import expect_error

Cli = Callable[..., Result]

SCRIPT = shutil.which("memoryd", path=str(Path(sys.executable).parent)) or shutil.which("memoryd")
REFUSED = "and an import reads its file more than once"


def _import_piped(store: Path, export: Path) -> subprocess.CompletedProcess[str]:
    """The real console script, its stdin a pipe fed with ``export``, importing /dev/stdin."""
    assert SCRIPT, "the memoryd console script is not installed (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    env |= {"MEMORYD_STORAGE__PATH": str(store), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [SCRIPT, "import", "/dev/stdin"], input=export.read_text(), env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def bob_export(tmp_path: Path, cli: Cli) -> Path:
    source, out = tmp_path / "bob.db", tmp_path / "bob.jsonl"
    assert cli(source, "add", "Bob likes green tea", "-u", "bob").exit_code == 0
    assert cli(source, "export", str(out)).exit_code == 0
    return out


def test_a_piped_import_into_a_store_with_memories_is_refused(
    tmp_path: Path, cli: Cli, bob_export: Path
) -> None:
    store = tmp_path / "ana.db"
    assert cli(store, "add", "Ana has a dog", "-u", "ana").exit_code == 0

    result = _import_piped(store, bob_export)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        f"cannot import from /dev/stdin: it is a pipe or a device, not a regular file, {REFUSED}"
        in " ".join(result.stderr.split())
    )
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert json.loads(cli(store, "list", "-u", "bob", "--json").stdout)["total"] == 0
    assert json.loads(cli(store, "list", "-u", "ana", "--json").stdout)["total"] == 1
    assert cli(store, "check").exit_code == 0

    saved = tmp_path / "saved.jsonl"  # what the message says to do works
    saved.write_text(bob_export.read_text())
    assert cli(store, "import", str(saved)).exit_code == 0
    assert json.loads(cli(store, "list", "-u", "bob", "--json").stdout)["total"] == 1


def test_a_piped_import_into_a_new_store_is_refused_and_makes_nothing(
    tmp_path: Path, bob_export: Path
) -> None:
    store = tmp_path / "new" / "memoryd.db"
    store.parent.mkdir()
    result = _import_piped(store, bob_export)
    assert result.returncode == 2, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert REFUSED in said and "is empty" not in said
    assert list(store.parent.iterdir()) == []


def test_import_of_dash_says_stdin_is_not_read(tmp_path: Path, cli: Cli) -> None:
    result = cli(tmp_path / "t.db", "import", "-")
    expect_error(result, 2, f"cannot import from -: it is stdin, {REFUSED}", "save the export to a file")
    assert not (tmp_path / "t.db").exists()
