"""``memoryd dlq purge --json`` asks on stderr, whole: stdout holds one JSON document."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
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
    assert "Delete 2 dead letters" in confirmed.stderr


def test_purge_with_no_terminal_and_no_yes_is_a_usage_error_naming_yes(
    pipeline_cli: Callable[..., PipelineCli],
) -> None:
    """A real ``memoryd dlq purge`` whose stdin is no terminal and gives no answer (``< /dev/null``)
    cannot be asked: exit 2 (it was 1, as a failed purge), naming --yes; nothing is purged."""
    cli = pipeline_cli()

    async def letters(*names: str) -> int:
        queue: Any = build_queue(cli.settings.pipeline)
        try:
            for n in names:
                await queue.client.xadd(queue.keys.dlq, {"event_id": n, "error": "{}"})
            return int(await queue.client.xlen(queue.keys.dlq))
        finally:
            await queue.close()

    assert asyncio.run(letters("a")) == 1
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}, **cli.env}
    for extra in ([], ["--json"]):
        unasked = subprocess.run(
            [sys.executable, "-m", "memoryd", "dlq", "purge", *extra],
            env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert unasked.returncode == 2, (unasked.returncode, unasked.stderr)
        assert "--yes" in unasked.stderr and "nothing purged" in unasked.stderr, unasked.stderr
        if extra:
            assert json.loads(unasked.stdout)["error"]["field"] == "yes"
    assert asyncio.run(letters()) == 1  # still there
