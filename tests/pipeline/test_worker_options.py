"""``memoryd worker --group`` and ``--consumer`` are held to the rules of ``pipeline.group`` and
``pipeline.consumer``: a name the configuration refuses (an empty group, a consumer name over 100
characters) is refused on the command line too (exit 2, naming the option), before anything is made
in Redis. Before, ``--group ""`` ran a worker that created a consumer group named "" on the stream,
which stayed there reading (and, with ``delete_acked``, deleting) the events of the real group."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from memoryd.pipeline import build_queue
from tests.pipeline.conftest import PipelineCli


def _groups(cli: PipelineCli) -> list[str]:
    async def go() -> list[str]:
        queue = build_queue(cli.settings.pipeline)
        try:
            await queue.ensure_group()
            infos = await queue.client.xinfo_groups(queue.keys.stream)  # type: ignore[attr-defined]
            return sorted(str(g["name"]) for g in infos)
        finally:
            await queue.close()

    return asyncio.run(go())


def test_a_group_or_consumer_name_the_configuration_refuses_is_refused(
    pipeline_cli: Callable[..., PipelineCli],
) -> None:
    cli = pipeline_cli(PIPELINE__BLOCK_MS="100")
    empty = cli.run("worker", "--burst", "--group", "")
    assert empty.exit_code == 2, empty.stdout + empty.stderr
    assert "--group" in empty.stderr and "worker consuming" not in empty.stdout + empty.stderr
    long = cli.run("worker", "--burst", "--consumer", "w" * 101)
    assert long.exit_code == 2 and "--consumer" in long.stderr, long.stdout + long.stderr
    assert _groups(cli) == ["memoryd"]  # no group "" on the stream
    check = cli.run("worker", "--check", "--group", "")
    assert check.exit_code == 1 and "--group" in check.stderr  # a health check: 0 or 1


def test_valid_names_still_run(pipeline_cli: Callable[..., PipelineCli]) -> None:
    cli = pipeline_cli(PIPELINE__BLOCK_MS="100")
    ran = cli.run("worker", "--burst", "--group", "other", "--consumer", "w" * 100, "--batch", "3")
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    assert _groups(cli) == ["memoryd", "other"]
