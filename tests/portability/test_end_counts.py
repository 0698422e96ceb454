"""A file whose lines no longer match its end line (a memory line deleted, or one pasted in, by
hand) is refused with what differs, said in words, at which line the end line is, and the fix;
not called "incomplete" when it holds more than the end line counts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from tests.portability.importing import said


def _rewrite(whole: Path, out: Path, edit: Callable[[list[str]], list[str]]) -> Path:
    text = whole.read_text(encoding="utf-8").splitlines()
    out.write_text("".join(line + "\n" for line in edit(text)), encoding="utf-8")
    return out


def _memory_at(rows: list[str]) -> int:
    return next(i for i, line in enumerate(rows) if json.loads(line)["type"] == "memory")


def _counted(whole: Path, kind: str) -> int:
    end = json.loads(whole.read_text(encoding="utf-8").splitlines()[-1])
    return int(end["counts"][kind])


def test_a_memory_line_added_by_hand_is_named_as_one_more_than_the_end_line_counts(
    tmp_path: Path, whole: Path, run: Callable[..., Result]
) -> None:
    def pasted(rows: list[str]) -> list[str]:
        doc = json.loads(rows[_memory_at(rows)])
        doc["id"] = "01a00000-0000-7000-8000-000000000001"
        return [rows[0], json.dumps(doc, ensure_ascii=False), *rows[1:]]

    edited = _rewrite(whole, tmp_path / "pasted.jsonl", pasted)
    total = len(edited.read_text(encoding="utf-8").splitlines())
    n = _counted(whole, "memory")
    result = run({"MEMORYD_STORAGE__PATH": str(tmp_path / "new" / "a.db")}, "import", str(edited))
    assert result.exit_code == 1
    message = said(result.stderr)
    assert "incomplete" not in message, message
    assert f"its end line (line {total}) counts {n} memories, the file holds {n + 1}" in message, message
    assert "{" not in message, message  # words, not a Python dict
    assert "export the store again" in message, message
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "new" / "a.db").exists()


def test_a_history_line_removed_by_hand_is_named_with_its_kind_alone(
    tmp_path: Path, whole: Path, run: Callable[..., Result]
) -> None:
    def cut(rows: list[str]) -> list[str]:
        last = max(i for i, line in enumerate(rows) if json.loads(line)["type"] == "history")
        return rows[:last] + rows[last + 1 :]

    edited = _rewrite(whole, tmp_path / "cut.jsonl", cut)
    total = len(edited.read_text(encoding="utf-8").splitlines())
    n = _counted(whole, "history")
    result = run({"MEMORYD_STORAGE__PATH": str(tmp_path / "new" / "a.db")}, "import", str(edited))
    assert result.exit_code == 1
    message = said(result.stderr)
    assert f"its end line (line {total}) counts {n} history rows, the file holds {n - 1}" in message, message
    assert "memories" not in message, message  # the kinds that match are not listed
    assert "{" not in message, message
