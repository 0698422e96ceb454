"""A vector in the file that is not base64 float32 numbers at all (a character lost or changed in
its text) is refused naming its line and field, with the fix: leave the line's ``index`` out, and
the import embeds the memory again (which the test then does)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.portability.importing import said


@pytest.mark.parametrize("damage", ["AAAA", "!not base64!"], ids=["cut", "garbled"])
def test_a_damaged_vector_text_names_its_line_and_the_fix_that_works(
    tmp_path: Path, whole: Path, run: Callable[..., Result], damage: str
) -> None:
    rows = [json.loads(t) for t in whole.read_text(encoding="utf-8").splitlines()]
    at = next(i for i, r in enumerate(rows) if r["type"] == "memory" and r.get("index"))
    rows[at]["index"]["vector"] = damage
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    env = {"MEMORYD_STORAGE__PATH": str(tmp_path / "new" / "a.db")}

    refused = run(env, "import", str(bad))
    assert refused.exit_code == 1 and "Traceback" not in refused.stderr
    message = said(refused.stderr)
    assert f"line {at + 1}: 'index.vector'" in message, message
    assert "delete the line's \"index\"" in message, message

    del rows[at]["index"]  # the fix it names
    bad.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    fixed = run(env, "import", str(bad), "--json")
    assert fixed.exit_code == 0, fixed.stderr
    assert json.loads(fixed.stdout)["reembedded"] == 1
    assert run(env, "check").exit_code == 0
