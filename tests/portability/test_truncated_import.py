"""An export cut short (a copy or download that stopped) is refused as truncated, naming its last line.

A file cut inside a line was refused as "line 2: not JSON (Unterminated string starting at)", and one
cut inside a multi-byte character (Chinese text) as "is not UTF-8 text (byte 0 of a block): not a
memoryd export", both sending the user to look for damage rather than for the rest of the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.cli.conftest import expect_error

Cli = Callable[..., Result]


@pytest.fixture
def export(tmp_path: Path, cli: Cli) -> bytes:
    store, out = tmp_path / "source.db", tmp_path / "full.jsonl"
    assert cli(store, "add", "I adopted a dog named Biscuit", "-u", "ana").exit_code == 0
    assert cli(store, "add", "我住在上海，喜欢吃火锅", "-u", "ana").exit_code == 0
    assert cli(store, "export", str(out)).exit_code == 0
    return out.read_bytes()


def _cuts(whole: bytes) -> dict[str, tuple[bytes, int]]:
    lines = whole.splitlines(keepends=True)
    zh = next(i for i, line in enumerate(lines) if "上海".encode() in line)
    inside_zh = b"".join(lines[:zh]) + lines[zh][: lines[zh].index("上海".encode()) + 1]
    return {
        "inside the second line": (lines[0] + lines[1][:40], 2),
        "inside a string of a later line": (b"".join(lines[:3]) + lines[3][: len(lines[3]) // 2], 4),
        "inside a Chinese character": (inside_zh, zh + 1),
    }


def test_a_file_cut_short_is_refused_as_truncated(tmp_path: Path, cli: Cli, export: bytes) -> None:
    target = tmp_path / "target" / "memoryd.db"
    target.parent.mkdir()
    for name, (content, last) in _cuts(export).items():
        cut = tmp_path / "cut.jsonl"
        cut.write_bytes(content)
        result = cli(target, "import", str(cut))
        expect_error(result, 1, f"{cut} is truncated: line {last}, its last, is cut short")
        assert list(target.parent.iterdir()) == [], name  # refused before anything was made

    whole = tmp_path / "whole.jsonl"  # the whole file still imports
    whole.write_bytes(export)
    assert cli(target, "import", str(whole)).exit_code == 0
