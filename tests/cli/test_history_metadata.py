"""``memoryd history`` showed an update of the metadata alone as a row whose old and new text are
the same, as a NOOP's are: what changed was only in ``--json`` (``details.metadata_changed``). The
table now says "(metadata changed)" on such a row, and only there."""

from __future__ import annotations

from tests.cli.conftest import Run, as_json


def test_history_table_marks_a_metadata_only_update(run: Run) -> None:
    memory_id = as_json(run("add", "I like green tea", "-u", "ana", "--json"))["results"][0]["id"]
    assert run("update", memory_id, "--metadata", '{"drink": "tea"}').exit_code == 0
    assert run("update", memory_id, "I like green tea").exit_code == 0  # a NOOP: nothing changed
    rows = as_json(run("history", memory_id, "--json"))["results"]
    assert [(r["event"], r["details"].get("metadata_changed")) for r in rows] == [
        ("ADD", None), ("UPDATE", True), ("NOOP", None),
    ]  # fmt: skip
    shown = run("history", memory_id, env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.stderr
    lines = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if line.count("│") >= 5}
    assert set(lines) == {"ADD", "UPDATE", "NOOP"}, shown.stdout
    assert "(metadata changed)" in lines["UPDATE"]
    assert "metadata" not in lines["ADD"] + lines["NOOP"]
