"""A flag's help shows no value after it: typer's help wrote ``--json <bool>`` and ``--help <bool>``
in every command's help, as if the flag took one (``--json true``). Options that take a value keep
what it is (``--limit <int>``, ``--filters JSON``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from memoryd.cli import app


def _paths(command: Any, path: list[str]) -> Iterator[list[str]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _paths(sub, [*path, name])


PATHS = list(_paths(typer.main.get_command(app), []))


def test_every_command_is_walked() -> None:
    assert {"list", "worker", "config show", "keys create", "dlq purge"} <= {" ".join(p) for p in PATHS}


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(["memoryd", *p]))
def test_no_help_shows_a_value_after_a_flag(clean_env: dict[str, str], path: list[str]) -> None:
    shown = CliRunner().invoke(app, [*path, "--help"], env=clean_env)
    assert shown.exit_code == 0, shown.output
    assert "--help" in shown.stdout
    assert "<bool>" not in shown.stdout, shown.stdout


def test_options_that_take_a_value_still_say_what_it_is(clean_env: dict[str, str]) -> None:
    shown = CliRunner().invoke(app, ["list", "--help"], env={**clean_env, "COLUMNS": "160"}).stdout
    limit = next(line for line in shown.splitlines() if "--limit" in line)
    json_flag = next(line for line in shown.splitlines() if "--json" in line)
    assert "<int>" in limit
    assert "<" not in json_flag and "Print one JSON document" in json_flag
