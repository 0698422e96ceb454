"""``memoryd dlq list`` and ``replay`` take the oldest ``--count`` letters (100 by default): with more
in the DLQ, list said "100 dead letters" of a DLQ of 150 and replay "replayed 100 events", as if that
were all. Now each says how many more the DLQ holds that it did not take (``dlq_size`` in list's
``--json``, ``not_selected`` in replay's)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from memoryd.pipeline import build_queue
from tests.pipeline.conftest import PipelineCli, doc


def _dead_letters(cli: PipelineCli, n: int) -> list[str]:
    async def go() -> list[str]:
        queue = build_queue(cli.settings.pipeline)
        try:
            client = queue.client  # type: ignore[attr-defined]
            fields = {"v": "99", "type": "add", "payload": '{"messages": "x"}', "dlq_attempts": "1"}
            for k in range(n):
                await client.xadd(queue.keys.dlq, {"event_id": f"e{k}", **fields})
            return [d.dlq_id for d in await queue.dlq_list(n)]
        finally:
            await queue.close()

    return asyncio.run(go())


def _said(text: str) -> str:
    return " ".join(text.split())


def test_list_says_how_many_more_it_did_not_show(pipeline_cli: Callable[..., PipelineCli]) -> None:
    cli = pipeline_cli()
    ids = _dead_letters(cli, 3)
    shown = cli.run("dlq", "list", "--count", "2")
    assert shown.exit_code == 0, shown.stderr
    assert "2 dead letters; 1 more in the DLQ not listed" in _said(shown.stdout)
    listed = doc(cli.run("dlq", "list", "--count", "2", "--json"))
    assert ([d["dlq_id"] for d in listed["results"]], listed["dlq_size"]) == (ids[:2], 3)
    every = cli.run("dlq", "list")
    assert "3 dead letters" in _said(every.stdout) and "more in the DLQ" not in every.stdout
    one = cli.run("dlq", "list", "--id", ids[2])
    assert "more in the DLQ" not in one.stdout  # asked for by id: nothing else was to be listed


def test_replay_says_how_many_more_it_did_not_take(pipeline_cli: Callable[..., PipelineCli]) -> None:
    cli = pipeline_cli()
    ids = _dead_letters(cli, 3)
    dry = cli.run("dlq", "replay", "--dry-run", "--count", "2")
    assert dry.exit_code == 0, dry.stderr
    assert "1 more in the DLQ not taken" in _said(dry.stdout)
    moved = doc(cli.run("dlq", "replay", "--count", "2", "--json"))
    assert (moved["replayed_ids"], moved["not_selected"]) == (ids[:2], 1)
    rest = doc(cli.run("dlq", "replay", "--json"))
    assert (rest["replayed_ids"], rest["not_selected"]) == ([ids[2]], 0)
