"""``memoryd doctor`` on a storage.path that cannot be a store (a folder, a device, under a file),
on a damaged store, and on a bad setting from the environment: each fix is one that helps."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from memoryd import load_settings
from memoryd.cli import doctor
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import ConfigError


def test_a_storage_path_that_is_a_directory_is_not_to_be_removed(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    """The fix said "remove it" (the user's folder), and the store check then told to move it aside."""
    (tmp_path / "keep.txt").write_text("the user's")
    check = doctor.sqlite_check(tmp_path)
    assert check.status == "fail" and "is a directory" in check.detail
    assert "remove" not in (check.fix or "") and str(tmp_path / "memoryd.db") in (check.fix or "")
    settings = load_settings(env={"MEMORYD_STORAGE__PATH": str(tmp_path)})
    store = doctor.store_check(settings, embedder)
    assert store.status == "warn" and "move it aside" not in f"{store.detail} {store.fix}"
    assert (tmp_path / "keep.txt").exists()


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_a_storage_path_that_is_a_device_is_not_to_be_moved_aside() -> None:
    check = doctor.sqlite_check(Path(os.devnull))
    assert check.status == "fail" and "not a file" in check.detail
    fix = check.fix or ""  # a device is no file of the user's to remove or move
    assert "remove" not in fix and "move it aside" not in fix and "storage.path" in fix


def test_a_storage_path_under_a_file_says_so_without_chmod(tmp_path: Path) -> None:
    """A file where a folder of the path should be: chmod u+w on it fixes nothing."""
    blocker = tmp_path / "data"
    blocker.write_text("a file")
    check = doctor.sqlite_check(blocker / "sub" / "memoryd.db")
    assert check.status == "fail" and f"{blocker} is not a directory" in check.detail
    assert "chmod" not in (check.fix or "") and "MEMORYD_STORAGE__PATH" in (check.fix or "")


def test_a_damaged_store_is_named_once(tmp_path: Path, embedder: USEEmbedder) -> None:
    path = tmp_path / "memoryd.db"
    path.write_bytes(b"not a database at all" * 400)
    settings = load_settings(env={"MEMORYD_STORAGE__PATH": str(path)})
    check = doctor.store_check(settings, embedder)
    assert check.status == "fail" and check.detail.count("cannot open") == 1, check.detail
    assert str(path) in check.detail


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"MEMORYD_STORAG__PATH": "/tmp/m.db"}, "MEMORYD_STORAG__PATH"),
        ({"MEMORYD_LLM_TIERS": '[[{"modle": "m"}]]'}, "MEMORYD_LLM_TIERS"),
    ],
)
def test_a_bad_variable_is_the_fix_of_the_config_check(env: dict[str, str], name: str) -> None:
    """An unknown section or a bad tier named no variable: the fix said only "correct the setting"."""
    with pytest.raises(ConfigError) as info:
        load_settings(env=env)
    check = doctor.config_check(None, info.value, None, env)
    assert check.status == "fail" and check.fix == f"correct or unset {name}"
