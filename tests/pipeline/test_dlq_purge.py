"""``memoryd dlq purge``: all, the oldest --count, or --id; what arrives after the question stays."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from typer.testing import Result

from memoryd.pipeline import build_queue
from tests.pipeline.conftest import PipelineCli, doc


def test_purge_deletes_what_it_was_asked_and_what_the_question_counted(
    pipeline_cli: Callable[..., PipelineCli],
) -> None:
    cli = pipeline_cli()
    settings = cli.settings

    def run(*args: str, input: str | None = None) -> Result:
        return cli.run("dlq", *args, input=input)

    async def dead(*names: str) -> list[str]:
        queue: Any = build_queue(settings.pipeline)
        try:
            return [
                str(await queue.client.xadd(queue.keys.dlq, {"event_id": n, "error": "{}"})) for n in names
            ]
        finally:
            await queue.close()

    first, second, third, fourth = asyncio.run(dead("a", "b", "c", "d"))

    missing = run("purge", "--yes", "--id", first, "--id", "1-1")
    assert missing.exit_code == 1 and "1-1" in missing.stderr  # an id not there: nothing goes
    assert len(doc(run("list", "--json"))["results"]) == 4

    assert doc(run("purge", "--yes", "--id", second, "--json")) == {"purged": 1}
    assert doc(run("purge", "--yes", "--count", "1", "--json")) == {"purged": 1}  # the oldest: first
    assert [d["dlq_id"] for d in doc(run("list", "--json"))["results"]] == [third, fourth]

    asked = run("purge", input="n\n")
    assert (
        asked.exit_code == 1
        and "Delete 2 dead letters" in asked.stderr
        and "nothing purged" in asked.stderr
    )

    # A letter that dies while the operator reads the question is not in what they agreed to delete.
    async def asked_then_purged() -> tuple[int, str | None, str, int]:
        queue: Any = build_queue(settings.pipeline)
        try:
            size, newest = await queue.dlq_tail()
            (late,) = await dead("e")
            return size, newest, late, await queue.dlq_purge(up_to=newest)
        finally:
            await queue.close()

    size, newest, late, purged = asyncio.run(asked_then_purged())
    assert (size, newest, purged) == (2, fourth, 2)
    assert [d["dlq_id"] for d in doc(run("list", "--json"))["results"]] == [late]
    assert doc(run("purge", "--yes", "--json")) == {"purged": 1}
    assert doc(run("purge", "--yes", "--json")) == {"purged": 0}
