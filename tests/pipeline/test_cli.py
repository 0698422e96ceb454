"""``memoryd worker`` (--burst, --check) and ``memoryd dlq`` (list, replay, purge) in-process."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable

from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline import PipelineEvent, build_queue
from tests.pipeline.conftest import PipelineCli, doc
from tests.pipeline.helpers import producer, turn


def test_worker_and_dlq_commands(
    pipeline_cli: Callable[..., PipelineCli], prefix: str, embedder: USEEmbedder
) -> None:
    cli = pipeline_cli(STORAGE__SYNCHRONOUS="NORMAL", PIPELINE__BLOCK_MS="100")
    settings, run = cli.settings, cli.run

    async def setup() -> None:
        async with producer(settings, embedder) as (pipeline, memory):
            await pipeline.submit_add(memory, turn("ana", 1))
            await pipeline.submit_add(memory, turn("ana", 2))
            poison = {**PipelineEvent("poison-1", turn("ana", 3)).to_fields(), "v": "99"}
            await pipeline.queue.client.xadd(pipeline.queue.keys.stream, poison)  # type: ignore[attr-defined]

    asyncio.run(setup())
    nobody = run("worker", "--check", "--json")
    assert nobody.exit_code == 1 and doc(nobody)["ok"] is False and doc(nobody)["lag"] == 3

    burst = run("worker", "--burst", "--json", "--consumer", "cli-w", "--batch", "8")
    assert burst.exit_code == 0, burst.stderr
    assert doc(burst) == {"consumer": "cli-w", "processed": 2, "duplicates": 0, "retried": 0,
                           "dead_lettered": 1, "batches": 1, "reclaimed": 0}  # fmt: skip

    listed = doc(run("dlq", "list", "--json"))
    (letter,) = listed["results"]
    assert listed["stream"] == f"{prefix}chat_log:dlq"
    assert (
        letter["event_id"] == "poison-1" and letter["error"]["field"] == "event.v" and letter["attempts"] == 1
    )
    human = run("dlq", "list")
    assert "poison-1" in human.stdout and "1 dead letter" in human.stdout

    dry = doc(run("dlq", "replay", "--dry-run", "--json"))
    assert dry["dry_run"] and dry["replayed"] == 1 and len(dry["selected"]) == 1  # would replay it
    assert len(doc(run("dlq", "list", "--json"))["results"]) == 1  # a dry run moves nothing
    moved = doc(run("dlq", "replay", "--id", letter["dlq_id"], "--json"))
    assert moved["replayed"] == 1 and doc(run("dlq", "list", "--json"))["results"] == []
    again = doc(run("worker", "--burst", "--json"))  # still unreadable by this worker version
    assert again["dead_lettered"] == 1

    refused = run("dlq", "purge", input="n\n")
    assert refused.exit_code == 1 and "nothing purged" in refused.stderr
    assert doc(run("dlq", "purge", "--yes", "--json")) == {"purged": 1}

    async def heartbeat() -> None:
        queue = build_queue(settings.pipeline)
        try:
            await queue.heartbeat("alive-w", {"consumer": "alive-w", "state": "running", "rate": 2.5}, 10_000)
        finally:
            await queue.close()

    asyncio.run(heartbeat())
    alive = run("worker", "--check", "--consumer", "alive-w")
    assert alive.exit_code == 0 and "alive-w" in alive.stdout and "is alive" in alive.stdout
    assert run("worker", "--check", "--consumer", "cli-w").exit_code == 1  # it left when its burst ended


def test_dlq_id_must_be_a_whole_entry_id(pipeline_cli: Callable[..., PipelineCli]) -> None:
    cli = pipeline_cli()
    settings, run = cli.settings, cli.run

    async def three_dead_letters() -> list[str]:
        """Three entries of one millisecond, as FINISH writes a batch's (ids given: the clock may
        tick during a script)."""
        queue = build_queue(settings.pipeline)
        try:
            client = queue.client  # type: ignore[attr-defined]
            fields = "'v', '1', 'type', 'add', 'payload', '{\"messages\": \"x\"}', 'dlq_attempts', '1'"
            add = f"for i = 1, 3 do redis.call('XADD', KEYS[1], '42-'..i, 'event_id', 'e'..i, {fields}) end"
            await client.eval(add, 1, queue.keys.dlq)
            ids = [d.dlq_id for d in await queue.dlq_list(10)]
            assert await queue.dlq_list(10, [ids[0].split("-")[0]]) == []  # never a range
            return ids
        finally:
            await queue.close()

    ids = asyncio.run(three_dead_letters())
    assert len({i.split("-")[0] for i in ids}) == 1
    for partial in (ids[0].split("-")[0], "oops"):
        refused = run("dlq", "replay", "--id", partial, "--json")
        assert refused.exit_code == 2 and "Invalid value for '--id'" in refused.stderr
    assert len(doc(run("dlq", "list", "--json"))["results"]) == 3  # nothing moved
    moved = doc(run("dlq", "replay", "--id", ids[1], "--json"))
    assert moved["replayed"] == 1 and [d["dlq_id"] for d in moved["selected"]] == [ids[1]]
    assert [d["dlq_id"] for d in doc(run("dlq", "list", "--json"))["results"]] == [ids[0], ids[2]]


def test_worker_check_local_counts_only_the_workers_of_this_host(pipeline_cli: Callable[..., PipelineCli]) -> None:
    # A container's health check: another host's live worker must not make this one look alive.
    import socket

    cli = pipeline_cli()

    async def heartbeat(consumer: str, host: str) -> None:
        queue = build_queue(cli.settings.pipeline)
        try:
            await queue.heartbeat(consumer, {"consumer": consumer, "host": host, "state": "running"}, 10_000)
        finally:
            await queue.close()

    asyncio.run(heartbeat("far-w", "another-host"))
    assert cli.run("worker", "--check").exit_code == 0  # some worker of the group is alive
    far = cli.run("worker", "--check", "--local")
    assert far.exit_code == 1 and f"no worker on {socket.gethostname()} is alive" in far.stdout
    asyncio.run(heartbeat("near-w", socket.gethostname()))
    near = doc(cli.run("worker", "--check", "--local", "--json"))
    assert near["ok"] and [w["consumer"] for w in near["workers"]] == ["near-w"]
    assert cli.run("worker", "--local").exit_code == 2  # not a check: refused, nothing runs


def test_a_worker_that_cannot_open_its_store_says_so_without_saying_it_consumes(
    pipeline_cli: Callable[..., PipelineCli],
) -> None:
    cli = pipeline_cli(PIPELINE__BLOCK_MS="100")
    assert cli.run("add", "I like tea", "-u", "ana").exit_code == 0
    with sqlite3.connect(cli.settings.storage.path) as conn:  # as a newer memoryd left it
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'index_format'")
    worker = cli.run("worker", "--burst")
    assert worker.exit_code == 1 and "newer memoryd" in worker.stderr, worker.stderr
    assert "worker consuming" not in worker.stdout + worker.stderr  # it said it ran, then failed
