"""`memoryd import --restart FILE` where no import is unfinished (a store that finished, or no
store at all) deletes nothing and says which of the two it is, and the fix: the same import
without --restart (which then works)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from tests.portability.importing import memories, said


def test_restart_without_a_store_says_there_is_none_and_to_import_without_it(
    tmp_path: Path, whole: Path, run: Callable[..., Result]
) -> None:
    db = tmp_path / "new" / "a.db"
    env = {"MEMORYD_STORAGE__PATH": str(db)}
    refused = run(env, "import", "--restart", str(whole))
    assert refused.exit_code == 1 and "Traceback" not in refused.stderr
    message = said(refused.stderr)
    assert f"there is no store at {db}" in message, message
    assert "or does not exist" not in message, message
    assert "run the import without --restart" in message, message
    assert not db.exists()
    assert run(env, "import", str(whole)).exit_code == 0  # the fix it names


def test_restart_into_a_finished_store_says_no_import_into_it_is_unfinished(
    tmp_path: Path, whole: Path, run: Callable[..., Result]
) -> None:
    db = tmp_path / "held.db"
    env = {"MEMORYD_STORAGE__PATH": str(db)}
    assert run(env, "add", "--mode", "fast", "-u", "zoe", "I like green tea").exit_code == 0
    held = memories(db)
    refused = run(env, "import", "--restart", str(whole))
    assert refused.exit_code == 1 and "Traceback" not in refused.stderr
    message = said(refused.stderr)
    expected = f"the store at {db} is not one (no import into it is unfinished): nothing was deleted"
    assert expected in message, message
    assert "run the import without --restart" in message, message
    assert memories(db) == held
    assert run(env, "import", str(whole)).exit_code == 0  # the fix it names
