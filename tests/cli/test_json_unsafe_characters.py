"""`--json` output wrote a memory's C1 controls and bidirectional overrides as they are: U+202E
reverses what a terminal shows after it, U+009B is a terminal's CSI. They are written as \\u
escapes now, so the document reads the same and nothing reaches the terminal raw."""

from __future__ import annotations

import json

from tests.cli.conftest import Run

TEXT = "pay \u202eexe.txt\u202c then \u009b31m red \u2028 next"


def test_json_output_escapes_what_a_terminal_would_act_on(run: Run) -> None:
    assert run("add", TEXT, "-u", "ana").exit_code == 0
    shown = run("list", "-u", "ana", "--json")
    assert shown.exit_code == 0
    for raw in ("\u202e", "\u202c", "\u009b", "\u2028"):
        assert raw not in shown.stdout
    assert "\\u202e" in shown.stdout and "\\u009b" in shown.stdout
    assert [m["memory"] for m in json.loads(shown.stdout)["results"]] == [TEXT]  # the same document
