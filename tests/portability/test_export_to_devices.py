"""``memoryd export`` to what is not a plain file: a device, a pipe, a symbolic link, /dev/stdout.

The export wrote a temporary file and renamed it over the path, so it replaced a device node
(run as root, ``memoryd export /dev/null`` left /dev/null a regular file for the whole machine),
hung for ever on a FIFO or ``>(gzip > x.gz)`` (it first opened the path to read, to see whether
it was a database), and replaced a symbolic link by a file, leaving the file it named as it was.
A device or a pipe is now written to as stdout is, and a link's file is replaced, the link kept."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.cli.conftest import expect_error

Cli = Callable[..., Result]

SCRIPT = shutil.which("memoryd", path=str(Path(sys.executable).parent)) or shutil.which("memoryd")


@pytest.fixture
def store(tmp_path: Path, cli: Cli) -> Path:
    path = tmp_path / "store.db"
    assert cli(path, "add", "Ana has a dog named Biscuit", "-u", "ana").exit_code == 0
    return path


def _types(text: str) -> list[str]:
    return [json.loads(line)["type"] for line in text.splitlines()]


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_an_export_to_a_device_writes_to_it_and_leaves_the_node(
    tmp_path: Path, store: Path, cli: Cli
) -> None:
    null, full = tmp_path / "null", tmp_path / "full"  # this test's own nodes of /dev/null and /dev/full
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))

    result = cli(store, "export", str(null))
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISCHR(null.lstat().st_mode)
    expect_error(cli(store, "export", str(full)), 1, f"cannot export to {full}: No space left on device")
    assert stat.S_ISCHR(full.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "null", "store.db", *_side(store)]


def _side(store: Path) -> list[str]:
    return sorted(p.name for p in store.parent.iterdir() if p.name.startswith(store.name + "-"))


def test_an_export_through_a_symbolic_link_replaces_the_file_and_keeps_the_link(
    tmp_path: Path, store: Path, cli: Cli
) -> None:
    real, link = tmp_path / "backups" / "latest.jsonl", tmp_path / "latest.jsonl"
    real.parent.mkdir()
    real.write_text("an older backup\n")
    link.symlink_to(real)

    result = cli(store, "export", str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and link.resolve() == real
    assert _types(real.read_text()) == ["header", "memory", "history", "tier_turn", "end"]
    assert sorted(p.name for p in real.parent.iterdir()) == ["latest.jsonl"]  # no .partial left


def test_an_export_to_a_fifo_streams_into_it(tmp_path: Path, store: Path) -> None:
    """The real console script (as a shell runs `memoryd export >(gzip > x.gz)`), a reader on the FIFO."""
    assert SCRIPT, "the memoryd console script is not installed (pip install -e .)"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    env |= {"MEMORYD_STORAGE__PATH": str(store), "HF_HUB_OFFLINE": "1"}
    try:
        result = subprocess.run(
            [SCRIPT, "export", str(fifo)], env=env, capture_output=True, text=True, timeout=60, check=False
        )
    finally:
        if reader.is_alive():  # the export never opened the FIFO to write: let the reader go
            with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "w"):
                pass
        reader.join(10)
    assert result.returncode == 0, result.stderr
    assert _types(received[0]) == ["header", "memory", "history", "tier_turn", "end"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_an_export_to_dev_stdout_is_the_export_alone(store: Path) -> None:
    """`memoryd export /dev/stdout | gzip`: the summary goes to stderr, as with `-`."""
    assert SCRIPT, "the memoryd console script is not installed (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    env |= {"MEMORYD_STORAGE__PATH": str(store), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [SCRIPT, "export", "/dev/stdout"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert _types(result.stdout) == ["header", "memory", "history", "tier_turn", "end"]
    assert "exported 1 memory" in result.stderr


def test_an_export_to_a_closed_stdout_is_one_error_line(store: Path) -> None:
    """`memoryd export - >&-` was a traceback (AttributeError: 'NoneType' object has no attribute
    'write'); it is a usage error naming stdout, and an export to a file still works then."""
    assert SCRIPT, "the memoryd console script is not installed (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    env |= {"MEMORYD_STORAGE__PATH": str(store), "HF_HUB_OFFLINE": "1"}

    def closed(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SCRIPT, *args], env=env, stdout=None, stderr=subprocess.PIPE, text=True, timeout=60,
            check=False, preexec_fn=lambda: os.close(1),
        )  # fmt: skip

    refused = closed("export", "-")
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("error: cannot export to -: stdout is closed; give a file PATH")
    assert "Traceback" not in refused.stderr
    out = store.parent / "backup.jsonl"
    assert closed("export", str(out)).returncode == 0 and _types(out.read_text())[-1] == "end"
