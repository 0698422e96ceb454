"""`memoryd tree --long-term N --segments N`: the tree's caps from the command line, and the
summary says what was cut and which option shows more."""

from __future__ import annotations

from tests.cli.conftest import Run, as_json


def test_tree_caps_and_says_what_it_left_out(run: Run) -> None:
    likes = [f"I like the colour number {i}." for i in range(6)]
    assert run("add", *likes, "-u", "ana", "-r", "s1").exit_code == 0
    capped = as_json(run("tree", "-u", "ana", "--long-term", "2", "--json"))
    assert len(capped["long_term"]["preference"]) == 2 and capped["counts"]["long_term"]["preference"] == 6
    shown = run("tree", "-u", "ana", "--long-term", "2")
    said = " ".join(shown.stdout.split())
    assert shown.exit_code == 0 and "long_term.preference: 2 of 6 shown (more with --long-term)" in said
    whole = as_json(run("tree", "-u", "ana", "--json"))
    assert whole["omitted"] == [] and len(whole["long_term"]["preference"]) == 6
    assert run("tree", "-u", "ana", "--long-term", "-1").exit_code == 2
