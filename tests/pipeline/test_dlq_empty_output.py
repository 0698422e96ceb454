"""An empty dead-letter queue is said in words: `dlq list` and `dlq replay` print no table with no
rows (a header line, `dlq id  event id  attempts  error  dead at`, above nothing), as `worker
--check` prints no empty table of workers; the count line stays."""

from __future__ import annotations

from collections.abc import Callable

from tests.pipeline.conftest import PipelineCli


def test_an_empty_dlq_prints_no_empty_table(pipeline_cli: Callable[..., PipelineCli]) -> None:
    cli = pipeline_cli()
    listed = cli.run("dlq", "list")
    assert listed.exit_code == 0, listed.output
    assert "dlq id" not in listed.stdout and "0 dead letters" in listed.stdout, listed.stdout
    for args in (("dlq", "replay", "--dry-run"), ("dlq", "replay")):
        replayed = cli.run(*args)
        assert replayed.exit_code == 0, replayed.output
        assert "dlq id" not in replayed.stdout and "0 events" in replayed.stdout, replayed.stdout
