"""The same export imported twice into one store: the second import is refused, changing nothing,
and says where (the file and the line of a memory the store holds), whose memory that is in words
(user, agent, session, not a Python dict), why (imported before) and the fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from tests.portability.importing import memories, said


def test_a_second_import_of_one_file_names_its_line_and_owner_in_words(
    tmp_path: Path, whole: Path, run: Callable[..., Result]
) -> None:
    db = tmp_path / "new" / "a.db"
    env = {"MEMORYD_STORAGE__PATH": str(db)}
    first = run(env, "import", str(whole))
    assert first.exit_code == 0, first.stderr
    held = memories(db)

    again = run(env, "import", str(whole))
    assert again.exit_code == 1
    assert "Traceback" not in again.stderr
    message = said(again.stderr)
    rows = {
        doc["id"]: (number, doc)
        for number, doc in enumerate((json.loads(t) for t in whole.read_text(encoding="utf-8").splitlines()), 1)
        if doc["type"] == "memory"
    }
    named = min(rows)  # the memory it names: the first id the store holds
    number, doc = rows[named]
    owner = ", ".join(
        f"{word} '{doc[field]}'"
        for field, word in (("user_id", "user"), ("agent_id", "agent"), ("run_id", "session"))
        if doc[field] is not None
    )
    assert f"line {number} of {whole}:" in message, message
    assert f"(e.g. {named}, a memory of {owner})" in message, message
    assert "{" not in message, message
    assert "imported into this store before" in message and "import into a new store" in message, message
    assert memories(db) == held  # nothing written
