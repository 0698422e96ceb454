"""``memoryd users``: the known owners, as ``GET /v1/users`` and ``users()`` list them. The CLI had
no such command, though its own errors (``memoryd tree -u nobody``) and hints point to that list."""

from __future__ import annotations

from tests.cli.conftest import Run, as_json, expect_error


def test_users_lists_each_owner_and_the_session_only_row_last(run: Run) -> None:
    for args in (("-u", "ana"), ("-u", "ana"), ("-u", "bob", "-a", "helper"), ("-a", "bot"), ("-r", "s-9")):
        assert run("add", f"note {len(args)} {args[-1]} 火锅", *args).exit_code == 0
    run("add", "another note for ana", "-u", "ana")
    rows = as_json(run("users", "--json"))["results"]
    owners = [(r["user_id"], r["agent_id"], r["memories"], r["session_only"]) for r in rows]
    assert owners[0] == ("ana", None, 2, False)  # most memories first
    assert set(owners[1:3]) == {("bob", "helper", 1, False), (None, "bot", 1, False)}
    assert owners[3] == (None, None, 1, True) and rows[3]["run_ids"] == ["s-9"]
    assert [r["user_id"] for r in as_json(run("users", "-u", "bob", "--json"))["results"]] == ["bob"]

    shown = run("users", env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.startswith("4 owners")
    lines = [line for line in shown.stdout.splitlines() if "│" in line]
    cells = [[cell.strip() for cell in line.split("│")] for line in lines]
    assert [c[:3] for c in cells] == [
        [r["user_id"] or "", r["agent_id"] or "", str(r["memories"])] for r in rows[:3]
    ] + [["(none: 1 session, s-9)", "", "1"]]
    assert "2 episode" in cells[0][3]


def test_users_on_a_missing_store_says_so(run: Run) -> None:
    expect_error(run("users"), 1, "no store")
