"""``memoryd worker --check`` runs no worker: ``--burst`` and ``--batch`` with it are a wrong command
line (exit 2, naming the option), as ``--local`` without it is, instead of being ignored."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.pipeline.conftest import PipelineCli


@pytest.mark.parametrize(("extra", "option"), [(["--burst"], "--burst"), (["--batch", "5"], "--batch")])
def test_an_option_of_a_running_worker_is_refused_with_check(
    pipeline_cli: Callable[..., PipelineCli], extra: list[str], option: str
) -> None:
    cli = pipeline_cli()
    refused = cli.run("worker", "--check", *extra)
    assert refused.exit_code == 2, refused.stdout + refused.stderr
    assert f"Invalid value for {option}: does not go with --check" in refused.stderr
    assert refused.stdout == ""  # no report: nothing was checked


def test_check_alone_still_reports(pipeline_cli: Callable[..., PipelineCli]) -> None:
    cli = pipeline_cli()
    nobody = cli.run("worker", "--check")
    assert nobody.exit_code == 1, nobody.stdout + nobody.stderr  # no worker alive: the report, not a refusal
    assert "no worker is alive" in nobody.stdout
