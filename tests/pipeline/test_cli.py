"""``memoryd worker`` (--burst, --check) and ``memoryd dlq`` (list, replay, purge) in-process."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from memoryd import load_settings
from memoryd.cli import app
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline import PipelineEvent, build_queue
from memoryd.pipeline.local_redis import LocalRedis
from tests.pipeline.helpers import producer, turn


def _doc(result: Result) -> Any:
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)


def _pipeline_env(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, monkeypatch: pytest.MonkeyPatch, **more: str
) -> dict[str, str]:
    """The environment of CLI calls with the pipeline on (none of the developer's MEMORYD_*)."""
    for name in list(os.environ):
        if name.startswith("MEMORYD_"):
            monkeypatch.delenv(name)
    return {
        "MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"),
        "MEMORYD_ASYNC_PIPELINE": "true",
        "MEMORYD_PIPELINE__REDIS_URL": redis_server.url,
        "MEMORYD_PIPELINE__PREFIX": prefix,
        **{f"MEMORYD_{k}": v for k, v in more.items()},
    }


def test_worker_and_dlq_commands(
    tmp_path: Path,
    redis_server: LocalRedis,
    prefix: str,
    embedder: USEEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    more = {"STORAGE__SYNCHRONOUS": "NORMAL", "PIPELINE__BLOCK_MS": "100"}
    env = _pipeline_env(tmp_path, redis_server, prefix, monkeypatch, **more)
    settings = load_settings(env=env)

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, list(args), env=env, input=input)

    async def setup() -> None:
        async with producer(settings, embedder) as (pipeline, memory):
            await pipeline.submit_add(memory, turn("ana", 1))
            await pipeline.submit_add(memory, turn("ana", 2))
            poison = {**PipelineEvent("poison-1", turn("ana", 3)).to_fields(), "v": "99"}
            await pipeline.queue.client.xadd(pipeline.queue.keys.stream, poison)  # type: ignore[attr-defined]

    asyncio.run(setup())
    nobody = run("worker", "--check", "--json")
    assert nobody.exit_code == 1 and _doc(nobody)["ok"] is False and _doc(nobody)["lag"] == 3

    burst = run("worker", "--burst", "--json", "--consumer", "cli-w", "--batch", "8")
    assert burst.exit_code == 0, burst.stderr
    assert _doc(burst) == {"consumer": "cli-w", "processed": 2, "duplicates": 0, "retried": 0,
                           "dead_lettered": 1, "batches": 1, "reclaimed": 0}  # fmt: skip

    listed = _doc(run("dlq", "list", "--json"))
    (letter,) = listed["results"]
    assert listed["stream"] == f"{prefix}chat_log:dlq"
    assert (
        letter["event_id"] == "poison-1" and letter["error"]["field"] == "event.v" and letter["attempts"] == 1
    )
    human = run("dlq", "list")
    assert "poison-1" in human.stdout and "1 dead letter(s)" in human.stdout

    dry = _doc(run("dlq", "replay", "--dry-run", "--json"))
    assert dry["dry_run"] and dry["replayed"] == 0 and len(dry["selected"]) == 1
    assert len(_doc(run("dlq", "list", "--json"))["results"]) == 1  # a dry run moves nothing
    moved = _doc(run("dlq", "replay", "--id", letter["dlq_id"], "--json"))
    assert moved["replayed"] == 1 and _doc(run("dlq", "list", "--json"))["results"] == []
    again = _doc(run("worker", "--burst", "--json"))  # still unreadable by this worker version
    assert again["dead_lettered"] == 1

    refused = run("dlq", "purge", input="n\n")
    assert refused.exit_code == 1 and "nothing purged" in refused.stderr
    assert _doc(run("dlq", "purge", "--yes", "--json")) == {"purged": 1}

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


def test_dlq_id_must_be_a_whole_entry_id(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _pipeline_env(tmp_path, redis_server, prefix, monkeypatch)
    settings = load_settings(env=env)

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, list(args), env=env)

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
    assert len(_doc(run("dlq", "list", "--json"))["results"]) == 3  # nothing moved
    moved = _doc(run("dlq", "replay", "--id", ids[1], "--json"))
    assert moved["replayed"] == 1 and [d["dlq_id"] for d in moved["selected"]] == [ids[1]]
    assert [d["dlq_id"] for d in _doc(run("dlq", "list", "--json"))["results"]] == [ids[0], ids[2]]
