"""Two worker processes given one consumer name (``--consumer`` or a shared ``pipeline.consumer``).

Each would "hold" the locks the other took under the name, and re-read the other's pending entries
after a restart, so events were stored twice. A worker claims its name now: one whose name a live
process holds refuses to start; the locks carry each process's token besides the name."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import ConfigError
from memoryd.pipeline import EventQueue, PipelineEvent, build_queue
from tests.pipeline.conftest import PipelineCli
from tests.pipeline.helpers import turn, wait_until, worker_over


async def test_a_second_worker_under_a_live_workers_name_refuses_to_start(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue
) -> None:
    async with worker_over(psettings, embedder, "same") as first, worker_over(psettings, embedder, "same") as second:
        running = asyncio.create_task(first.run())
        try:
            await wait_until(lambda: _is(first.state == "running"), timeout=15, what="the first worker")
            with pytest.raises(ConfigError) as refused:
                await asyncio.wait_for(second.run(burst=True), timeout=15)
            message = refused.value.message
            assert "'same' is in use by a live worker" in message and "--consumer NAME" in message
            assert refused.value.field == "pipeline.consumer"
            assert [w["consumer"] for w in await queue.worker_info("same")] == ["same"]  # first's still
            await queue.enqueue(PipelineEvent("ev-1", turn("ana", 1)))
            await wait_until(lambda: _is(first.report.processed == 1), timeout=15, what="the first working on")
        finally:
            first.stop()
            await asyncio.wait_for(running, timeout=15)
    assert await queue.worker_info("same") == []  # it left: its name is free again


async def test_a_dead_workers_name_is_taken_once_its_claim_runs_out(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue
) -> None:
    """A process that died without leaving (SIGKILL) renews its claim no more: a worker started
    under its name waits for the claim to run out, then starts."""
    await queue.ensure_group()
    assert await queue.heartbeat("same", {"consumer": "same"}, 600) == 0  # then dies
    await queue.enqueue(PipelineEvent("ev-1", turn("ana", 1)))
    async with worker_over(psettings, embedder, "same") as worker:
        report = await asyncio.wait_for(worker.run(burst=True), timeout=30)
    assert report.processed == 1


async def test_two_processes_under_one_name_never_both_hold_a_lock(psettings: Settings) -> None:
    one, two = build_queue(psettings.pipeline), build_queue(psettings.pipeline)  # two processes' clients
    try:
        await one.ensure_group()
        await one.enqueue(PipelineEvent("ev-1", turn("ana", 1)))
        stream_id = (await one.read("same", 1, None))[0].stream_id
        item = [("ev-1", 1, stream_id, "")]
        assert [b.state for b in await one.begin(item, "same", 60_000)] == ["claimed"]
        assert [b.state for b in await two.begin(item, "same", 60_000)] == ["busy"]
        assert [b.state for b in await one.begin(item, "same", 60_000)] == ["claimed"]  # its own, extended
        owner = "default:user:ana"
        assert await one.hold_owners([owner], "same", 60_000) == [True]
        assert await two.hold_owners([owner], "same", 60_000) == [False]
        await two.release_owners([owner], "same")  # not its lock: still held
        assert await two.hold_owners([owner], "same", 60_000) == [False]
        await one.release_owners([owner], "same")
        assert await two.hold_owners([owner], "same", 60_000) == [True]
    finally:
        await one.close()
        await two.close()


async def test_a_worker_leaving_does_not_drop_the_heartbeat_of_the_names_holder(psettings: Settings) -> None:
    holder, other = build_queue(psettings.pipeline), build_queue(psettings.pipeline)
    try:
        await holder.ensure_group()
        assert await holder.heartbeat("same", {"consumer": "same"}, 60_000) == 0
        assert await other.heartbeat("same", {"consumer": "same"}, 60_000) > 0  # refused
        await other.leave("same")
        assert [w["consumer"] for w in await other.worker_info("same")] == ["same"]
        await holder.leave("same")
        assert await other.worker_info("same") == []
    finally:
        await holder.close()
        await other.close()


async def _is(value: bool) -> bool:
    return value


def test_the_cli_refusing_a_live_workers_name_never_says_it_consumes(
    pipeline_cli: Callable[..., PipelineCli],
) -> None:
    """It printed "worker consuming …" first, then refused: the banner now comes once it holds its name."""
    cli = pipeline_cli(PIPELINE__BLOCK_MS="100")
    holder = subprocess.Popen(
        [sys.executable, "-m", "memoryd", "worker", "--consumer", "same"],
        env={**os.environ, **cli.env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        async def holding() -> bool:
            queue = build_queue(cli.settings.pipeline)
            try:
                return bool(await queue.worker_info("same"))
            finally:
                await queue.close()

        asyncio.run(wait_until(holding, timeout=60, what="the first worker to hold its name"))
        refused = cli.run("worker", "--consumer", "same", "--burst")
        assert refused.exit_code == 2, refused.stderr
        assert "'same' is in use by a live worker" in refused.stderr
        assert "consuming" not in refused.stderr + refused.stdout
    finally:
        holder.terminate()
        _, banner = holder.communicate(timeout=30)
    assert "worker consuming" in banner  # the one that ran said so
