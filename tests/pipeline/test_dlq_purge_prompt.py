"""``memoryd dlq purge --json`` asks on stderr, whole: stdout holds one JSON document."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from memoryd.pipeline import build_queue
from tests.pipeline.conftest import PipelineCli


def test_purge_with_json_asks_on_stderr_and_answers_one_json_document(
    pipeline_cli: Callable[..., PipelineCli],
) -> None:
    cli = pipeline_cli()

    async def dead(*names: str) -> None:
        queue: Any = build_queue(cli.settings.pipeline)
        try:
            for n in names:
                await queue.client.xadd(queue.keys.dlq, {"event_id": n, "error": "{}"})
        finally:
            await queue.close()

    asyncio.run(dead("a", "b"))
    refused = cli.run("dlq", "purge", "--json", input="n\n")
    assert refused.exit_code == 1 and refused.stdout.startswith("{"), repr(refused.stdout)
    assert "nothing purged" in json.loads(refused.stdout)["error"]["message"]
    confirmed = cli.run("dlq", "purge", "--json", input="y\n")
    assert confirmed.exit_code == 0 and confirmed.stdout.startswith("{"), repr(confirmed.stdout)
    assert json.loads(confirmed.stdout) == {"purged": 2}
    assert "Delete 2 dead letter(s)" in confirmed.stderr
