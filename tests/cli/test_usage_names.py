"""The usage lines named arguments unlike the help and the errors did: ``memoryd add [OPTIONS]
[texts]...`` for what the help calls TEXT, ``memoryd search [OPTIONS] {query}`` (and "Missing
argument 'query'"), ``memoryd update ... {ID} [text]``, and ``memoryd delete [OPTIONS] [[ID]]``.
Each argument is now named in capitals, once bracketed, as ``get``'s ID always was."""

from __future__ import annotations

from tests.cli.conftest import Run


def _usage(run: Run, *command: str) -> str:
    shown = run(*command, "--help", env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.stderr
    return next(line.strip() for line in shown.stdout.splitlines() if "Usage:" in line)


def test_usage_lines_name_arguments_as_the_help_does(run: Run) -> None:
    assert _usage(run, "add") == "Usage: memoryd add [OPTIONS] [TEXT]..."
    assert _usage(run, "search") == "Usage: memoryd search [OPTIONS] {QUERY}"
    assert _usage(run, "context") == "Usage: memoryd context [OPTIONS] {QUERY}"
    assert _usage(run, "update") == "Usage: memoryd update [OPTIONS] {ID} [TEXT]"
    assert _usage(run, "delete") == "Usage: memoryd delete [OPTIONS] [ID]"
    missing = run("search", "-u", "ana")
    assert missing.exit_code == 2 and "Missing argument 'QUERY'" in missing.stderr, missing.stderr
