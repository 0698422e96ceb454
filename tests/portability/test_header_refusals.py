"""A header memoryd cannot take is refused naming the file's line 1, what is wrong in words, and
the fix: a newer export format says to upgrade memoryd (and which version wrote it); a header
without a ``kind`` says what the kind should be, not ``None``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from tests.portability.importing import said


def _with_header(whole: Path, out: Path, edit: Callable[[dict[str, object]], None]) -> Path:
    rows = whole.read_text(encoding="utf-8").splitlines()
    header = json.loads(rows[0])
    edit(header)
    out.write_text("".join(line + "\n" for line in [json.dumps(header), *rows[1:]]), encoding="utf-8")
    return out


def test_a_newer_export_format_names_the_version_that_wrote_it_and_says_to_upgrade(
    tmp_path: Path, whole: Path, run: Callable[..., Result]
) -> None:
    newer = _with_header(whole, tmp_path / "newer.jsonl", lambda h: h.update(format=2, memoryd="9.1.0"))
    db = tmp_path / "new" / "a.db"
    result = run({"MEMORYD_STORAGE__PATH": str(db)}, "import", str(newer))
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    message = said(result.stderr)
    assert "line 1: written in export format 2 (by memoryd 9.1.0), which only a newer memoryd reads" in message, message
    assert "upgrade memoryd" in message, message
    assert not db.exists()


def test_a_header_without_a_kind_says_what_it_should_be(
    tmp_path: Path, whole: Path, run: Callable[..., Result]
) -> None:
    kindless = _with_header(whole, tmp_path / "kindless.jsonl", lambda h: h.pop("kind"))
    result = run({"MEMORYD_STORAGE__PATH": str(tmp_path / "new" / "a.db")}, "import", str(kindless))
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    message = said(result.stderr)
    assert "None" not in message, message
    assert "line 1: not a memoryd export: its header has no 'kind' (a memoryd export's is 'memoryd-export')" in message


def test_an_unknown_memory_kind_or_history_event_lists_the_known_ones(
    tmp_path: Path, whole: Path, run: Callable[..., Result]
) -> None:
    rows = [json.loads(t) for t in whole.read_text(encoding="utf-8").splitlines()]
    for kind, field, wrong in (("memory", "kind", "epsiode"), ("history", "event", "ADDED")):
        edited = [dict(r) for r in rows]
        at = next(i for i, r in enumerate(edited) if r["type"] == kind)
        edited[at][field] = wrong
        bad = tmp_path / f"{kind}.jsonl"
        bad.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in edited), encoding="utf-8")
        result = run({"MEMORYD_STORAGE__PATH": str(tmp_path / "new" / "a.db")}, "import", str(bad))
        assert result.exit_code == 1 and "Traceback" not in result.stderr
        message = said(result.stderr)
        known = "episode, fact, " if kind == "memory" else "ADD, UPDATE, "
        assert f"line {at + 1}: unknown {'memory kind' if kind == 'memory' else 'history event'} {wrong!r} " \
               f"(known: {known}" in message, message  # fmt: skip
