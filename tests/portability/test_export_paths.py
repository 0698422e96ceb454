"""``memoryd export`` to a path it cannot write: one line naming the path, exit 1, nothing left."""

from __future__ import annotations

import json
import os
import stat
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

    expect_error(cli(store, "export", str(tmp_path)), 2, f"cannot export to {tmp_path}", "is a directory")
    under_a_file = blocker / "sub" / "backup.jsonl"
    expect_error(
        cli(store, "export", str(under_a_file)), 1, f"cannot export to {under_a_file}", "(field: path)"
    )
    result = cli(store, "export", str(under_a_file), "--json")
    assert result.exit_code == 1 and '"field": "path"' in result.stdout
    assert sorted(tmp_path.rglob("*")) == before  # no .partial file, no directory made

    nested = tmp_path / "new" / "dirs" / "backup.jsonl"  # missing directories are still made
    assert cli(store, "export", str(nested)).exit_code == 0 and nested.is_file()


def test_export_onto_the_store_or_the_key_file_is_refused(tmp_path: Path, cli: Cli) -> None:
    """``memoryd export`` over its own database replaced the store with the JSONL file (the store
    then refused to open: "file is not a database"), and over keys.db destroyed every API key,
    which an export does not hold."""
    store = tmp_path / "store.db"
    assert cli(store, "add", "I adopted a dog named Biscuit", "-u", "ana").exit_code == 0
    assert cli(store, "keys", "create", "--role", "admin").exit_code == 0
    keys = tmp_path / "keys.db"
    other = tmp_path / "other.db"  # another tenant's store, say
    assert cli(other, "add", "another store", "-u", "bo").exit_code == 0

    for target in (store, keys, other):
        expect_error(cli(store, "export", str(target)), 1, f"cannot export to {target}", "SQLite database")
        assert target.read_bytes().startswith(b"SQLite format 3\x00")
    assert not list(tmp_path.glob("*.partial"))
    listed = cli(store, "list", "-u", "ana")
    assert listed.exit_code == 0 and "Biscuit" in listed.stdout, listed.stderr
    key_list = cli(store, "keys", "list", "--json")
    assert key_list.exit_code == 0 and len(json.loads(key_list.stdout)["results"]) == 1

    backup = tmp_path / "backup.jsonl"  # an earlier export is still overwritten, as before
    assert cli(store, "export", str(backup)).exit_code == 0
    assert cli(store, "export", str(backup)).exit_code == 0 and backup.read_text().startswith('{"type":"header"')


def test_an_export_is_readable_by_its_owner_only(tmp_path: Path, cli: Cli) -> None:
    """An export holds every memory, as the store does: it was written 0644 (readable by every
    account on a shared machine) and its new folders 0755, while the store is 0600 in 0700."""
    store = tmp_path / "store.db"
    assert cli(store, "add", "My bank PIN is 4921", "-u", "ana").exit_code == 0
    old_umask = os.umask(0o022)
    try:
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o755)
        flat, nested = shared / "backup.jsonl", shared / "sub" / "dir" / "backup.jsonl"
        stale = tmp_path / "again.jsonl.partial"  # a crashed export's leftover, world-readable
        stale.write_text("old")
        stale.chmod(0o644)
        for path in (flat, nested, tmp_path / "again.jsonl"):
            assert cli(store, "export", str(path)).exit_code == 0
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            assert "4921" in path.read_text()
        for folder in (shared / "sub", shared / "sub" / "dir"):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # an existing folder keeps its mode
    finally:
        os.umask(old_umask)
