"""``memoryd dlq replay`` and ``purge`` given one ``--id`` twice: one entry, counted once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from memoryd.pipeline import build_queue
from tests.pipeline.conftest import PipelineCli, doc


def _two_dead_letters(cli: PipelineCli) -> list[str]:
    async def go() -> list[str]:
        queue = build_queue(cli.settings.pipeline)
        try:
            client = queue.client  # type: ignore[attr-defined]
            fields = {"v": "99", "type": "add", "payload": '{"messages": "x"}', "dlq_attempts": "1"}
            for n in (1, 2):
                await client.xadd(queue.keys.dlq, {"event_id": f"e{n}", **fields})
            return [d.dlq_id for d in await queue.dlq_list(10)]
        finally:
            await queue.close()

    return asyncio.run(go())


def test_an_id_given_twice_is_one_entry_within_count(pipeline_cli: Callable[..., PipelineCli]) -> None:
    cli = pipeline_cli()
    first, second = _two_dead_letters(cli)
    dry = cli.run("dlq", "replay", "--dry-run", "--id", first, "--id", first, "--count", "1", "--json")
    assert dry.exit_code == 0, dry.stderr
    assert [d["dlq_id"] for d in doc(dry)["selected"]] == [first]
    moved = cli.run("dlq", "replay", "--id", second, "--id", second, "--count", "1", "--json")
    assert moved.exit_code == 0, moved.stderr
    assert doc(moved)["replayed"] == 1
    purged = cli.run("dlq", "purge", "--yes", "--id", first, "--id", first, "--count", "1", "--json")
    assert purged.exit_code == 0, purged.stderr
    assert doc(purged) == {"purged": 1}
    assert doc(cli.run("dlq", "list", "--json"))["results"] == []


def test_more_distinct_ids_than_count_are_still_refused(pipeline_cli: Callable[..., PipelineCli]) -> None:
    cli = pipeline_cli()
    first, second = _two_dead_letters(cli)
    refused = cli.run("dlq", "replay", "--id", first, "--id", second, "--count", "1", "--json")
    assert refused.exit_code == 2 and "2 ids given but --count is 1" in refused.stdout + refused.stderr
    assert len(doc(cli.run("dlq", "list", "--json"))["results"]) == 2  # nothing moved
