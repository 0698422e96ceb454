"""Opening a store the machine will not let memoryd write names the cause and its fix.

On a full disk, a read-only mount or a file this user may not write, opening said "disk I/O error"
(or "unable to open database file") and "if it is not a memoryd store, move it aside": advice for
a file that is not a store, wrong for a good store on a disk that refuses writes. The disks here
are real: a small tmpfs filled up by a file, a read-only bind mount, a folder of root's opened by
another user (root, running the tests, ignores permissions). Each needs root to set up, and skips
where it cannot.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from memoryd.errors import StorageError
from memoryd.storage.sqlite.database import SQLiteDatabase
from tests.pipeline.test_store_refuses_writes import fill, small_disk


def _open(path: Path) -> StorageError:
    db = SQLiteDatabase(path)
    try:
        with pytest.raises(StorageError) as refused:
            db.open()
    finally:
        db.close()
    return refused.value


def _made(path: Path) -> None:
    db = SQLiteDatabase(path)
    db.open()
    db.close()


@contextlib.contextmanager
def read_only(folder: Path, where: Path) -> Iterator[Path]:
    """``folder`` mounted read-only at ``where`` (a bind mount: root only, skips elsewhere)."""
    where.mkdir()
    try:
        subprocess.run(["mount", "--bind", str(folder), str(where)], check=True, capture_output=True, timeout=30)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(where)], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        subprocess.run(["umount", str(where)], check=False, capture_output=True, timeout=30)
        pytest.skip(f"a read-only mount needs `mount --bind` (root): {exc}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True, timeout=30)


@pytest.mark.parametrize("existing", [False, True])
def test_a_full_disk_is_named_with_its_fix(tmp_path: Path, existing: bool) -> None:
    with small_disk(tmp_path / "disk", size="300k") as disk:
        path = disk / "m.db"
        if existing:
            _made(path)  # a good store: opening it then needs room for its WAL ("disk I/O error")
        filler = fill(disk)
        err = _open(path)
        assert err.field == "storage.path" and str(path) in err.message
        assert "the disk holding it is full" in err.message and "free space on that disk" in err.message
        assert "move it aside" not in err.message
        assert err.details["repair"].startswith("free space")
        filler.unlink()
        _made(path)  # space freed: the same store opens


def test_a_read_only_mount_is_named_with_its_fix(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    _made(folder / "m.db")
    with read_only(folder, tmp_path / "ro") as mounted:
        for path in (mounted / "m.db", mounted / "new" / "m.db"):  # a store there; none yet
            err = _open(path)
            assert err.field == "storage.path" and str(path) in err.message
            assert "mounted read-only" in err.message and "mount it read-write" in err.message, err.message
            assert "move it aside" not in err.message


_OPEN_AS_NOBODY = """
import sys
from memoryd.errors import StorageError
from memoryd.storage.sqlite.database import SQLiteDatabase
db = SQLiteDatabase(sys.argv[1])
try:
    db.open()
except StorageError as exc:
    print(exc.message)
finally:
    db.close()
"""


def test_a_file_this_user_may_not_write_is_named_with_its_fix(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("another user's view needs root and setpriv")
    tmp_path.chmod(0o755)
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)  # root's: nobody may make the WAL there
    path = folder / "m.db"
    _made(path)
    path.chmod(0o644)
    ran = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", _OPEN_AS_NOBODY,
         str(path)], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    if "No module named" in ran.stderr or "Permission denied" in ran.stderr:
        pytest.skip(f"nobody cannot run this Python: {ran.stderr[-300:]}")
    message = ran.stdout.strip()
    assert str(path) in message, ran.stderr
    assert "this user may not write the file or its folder" in message and "let this user write" in message
    assert "move it aside" not in message


def test_a_file_that_is_not_a_store_is_still_to_be_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    path.write_text("a shopping list, not a database\n")
    err = _open(path)
    assert "move it aside" in err.message and "full" not in err.message and "read-only" not in err.message
