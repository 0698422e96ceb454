"""``memoryd dlq purge``: all, the oldest --count, or --id; what arrives after the question stays."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from memoryd import load_settings
from memoryd.cli import app
from memoryd.pipeline import build_queue
from memoryd.pipeline.local_redis import LocalRedis
from tests.pipeline.test_cli import _doc, _pipeline_env


def test_purge_deletes_what_it_was_asked_and_what_the_question_counted(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _pipeline_env(tmp_path, redis_server, prefix, monkeypatch)
    settings = load_settings(env=env)

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, ["dlq", *args], env=env, input=input)

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
    assert len(_doc(run("list", "--json"))["results"]) == 4

    assert _doc(run("purge", "--yes", "--id", second, "--json")) == {"purged": 1}
    assert _doc(run("purge", "--yes", "--count", "1", "--json")) == {"purged": 1}  # the oldest: first
    assert [d["dlq_id"] for d in _doc(run("list", "--json"))["results"]] == [third, fourth]

    asked = run("purge", input="n\n")
    assert (
        asked.exit_code == 1
        and "Delete 2 dead letter(s)" in asked.stderr
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
    assert [d["dlq_id"] for d in _doc(run("list", "--json"))["results"]] == [late]
    assert _doc(run("purge", "--yes", "--json")) == {"purged": 1}
    assert _doc(run("purge", "--yes", "--json")) == {"purged": 0}
