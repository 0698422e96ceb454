"""``memoryd export`` to a path it cannot write: one line naming the path, exit 1, nothing left."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from tests.cli.conftest import expect_error

Cli = Callable[..., Result]


def test_export_to_a_directory_or_an_unwritable_path_is_one_line(tmp_path: Path, cli: Cli) -> None:
    store = tmp_path / "store.db"
    assert cli(store, "add", "hi", "-u", "ana").exit_code == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    before = sorted(tmp_path.rglob("*"))

    expect_error(cli(store, "export", str(tmp_path)), 1, f"cannot export to {tmp_path}", "is a directory")
    under_a_file = blocker / "sub" / "backup.jsonl"
    expect_error(
        cli(store, "export", str(under_a_file)), 1, f"cannot export to {under_a_file}", "(field: path)"
    )
    result = cli(store, "export", str(under_a_file), "--json")
    assert result.exit_code == 1 and '"field": "path"' in result.stdout
    assert sorted(tmp_path.rglob("*")) == before  # no .partial file, no directory made

    nested = tmp_path / "new" / "dirs" / "backup.jsonl"  # missing directories are still made
    assert cli(store, "export", str(nested)).exit_code == 0 and nested.is_file()
