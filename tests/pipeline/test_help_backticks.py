"""The pipeline commands' --help is read in a terminal: it quotes as the rest of memoryd's help does
(`gone`), never with a docstring's reStructuredText double backticks (``gone``), which the help
printed as they were."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from memoryd.cli import app


@pytest.mark.parametrize(
    "command", [["worker"], ["dlq"], ["dlq", "list"], ["dlq", "replay"], ["dlq", "purge"]], ids=" ".join
)
def test_help_shows_no_double_backticks(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "``" not in result.output, result.output
