"""A command's --help kept its docstring's own line breaks and wrapped to the terminal as well, so
every paragraph after the first broke mid-sentence ("the fast-mode rules read in" / "them"). Each
paragraph is now one flowing text: at a width that fits it, it is one line."""

from __future__ import annotations

import pytest
import typer

from memoryd.cli import app
from tests.cli.conftest import Run

CASES = [  # a phrase the docstring's source breaks across two lines
    (["add"], "the fast-mode rules read in them (ADD, SUPERSEDE, NOOP)"),
    (["check"], "exactly once (vector and keywords) and nothing else"),
    (["import"], "no memory id or graph owner already in the store"),
    (["export"], "Streams; the file appears only once complete."),
]


def _commands(cmd: object, path: list[str]) -> list[list[str]]:
    subs = getattr(cmd, "commands", {})
    return [path, *(p for name in sorted(subs) for p in _commands(subs[name], [*path, name]))]


ALL = _commands(typer.main.get_command(app), [])


@pytest.mark.parametrize(("args", "phrase"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_paragraph_is_one_line_when_it_fits(run: Run, args: list[str], phrase: str) -> None:
    shown = run(*args, "--help", env={"COLUMNS": "1000"})
    assert shown.exit_code == 0, shown.stderr
    assert any(phrase in line for line in shown.stdout.splitlines()), shown.stdout


@pytest.mark.parametrize("args", ALL, ids=[" ".join(a) or "memoryd" for a in ALL])
def test_no_help_line_breaks_off_mid_sentence(run: Run, args: list[str]) -> None:
    shown = run(*args, "--help", env={"COLUMNS": "1000"})
    assert shown.exit_code == 0, shown.stderr
    # the help's text (the boxes of options aside), on a terminal wide enough: whole sentences only
    text = [line.strip() for line in shown.stdout.splitlines() if line.strip() and line.strip()[0].isalpha()]
    assert all(line[-1] in ".):;" or line.startswith("Usage:") for line in text), text
