"""``--json`` when the command line is wrong before any command is reached: an unknown command
(``memoryd --json bogus``, ``memoryd --json config bogus``), an unknown root option, a group named
with no command (``memoryd --json keys``). The help promises "With --json an error is also a JSON
document on stdout", but stdout was empty (or held the group's help), so a script parsing it
failed. Now stdout holds the error document; stderr keeps click's report and the exit status 2."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Run, as_json

CASES = [
    (["--json", "bogus"], "No such command 'bogus'"),
    (["--json", "config", "bogus"], "No such command 'bogus'"),
    (["keys", "bogus", "--json"], "No such command 'bogus'"),
    (["--json", "--no-such-flag", "list"], "No such option: --no-such-flag"),
    (["--json", "keys"], "missing command"),
    (["--json", "config"], "missing command"),
]


@pytest.mark.parametrize(("args", "said"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_group_level_error_under_json_is_a_json_document(run: Run, args: list[str], said: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    error = as_json(result)["error"]
    assert error["code"] == "invalid_input" and said in error["message"], error
    assert "Traceback" not in result.stderr + result.stdout


def test_a_group_named_alone_lists_its_commands_in_the_error(run: Run) -> None:
    error = as_json(run("--json", "keys"))["error"]
    assert all(name in error["message"] for name in ("create", "list", "revoke")), error


@pytest.mark.parametrize("args", [["bogus"], ["config", "bogus"], ["--no-such-flag", "list"]])
def test_without_json_stdout_stays_empty(run: Run, args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2 and result.stdout == "", result.stdout
    assert "Usage:" in result.stderr
