"""``memoryd list --include-expired`` (and a search ``--as-of`` a past time) showed a superseded
memory only dimmed: piped, or with no colour, it looked as current as the memory that replaced it.
Each one that is no longer valid now says until when it was."""

from __future__ import annotations

from tests.cli.conftest import Run, as_json


def test_a_superseded_memory_is_marked_in_the_table(run: Run) -> None:
    assert run("add", "I live in Lisbon", "-u", "ana").exit_code == 0
    assert run("add", "I moved to Porto", "-u", "ana").exit_code == 0
    listed = as_json(run("list", "-u", "ana", "--include-expired", "--json"))["results"]
    ended = [m for m in listed if m["valid_to"] is not None]
    assert [m["text"] for m in ended] == ["The user lives in Lisbon."]
    shown = run("list", "-u", "ana", "--include-expired", env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert shown.exit_code == 0, shown.stderr
    rows = {line.split("│")[0].strip(): line for line in shown.stdout.splitlines() if "│" in line}
    assert len(rows) == len(listed) == 4
    marked = [memory_id for memory_id, line in rows.items() if "valid until" in line]
    assert marked == [ended[0]["id"]], shown.stdout
