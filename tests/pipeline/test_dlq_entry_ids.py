"""``memoryd dlq`` given an ``--id`` Redis would misread or refuse, or one that is not there.

An id is taken only as ``dlq list`` writes it: a part past 2**64 - 1 (which Redis refuses as an
"Invalid stream ID", once a Redis error with exit 1) and a part with a leading zero (which Redis reads
as another spelling of an entry) are a wrong command line, exit 2, and nothing moves. ``dlq list --id``
of an entry not there fails (exit 1), as replay and purge do, instead of listing nothing with exit 0.
A ``--count`` past what Redis takes lists every letter instead of a Redis error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from memoryd.pipeline import build_queue
from tests.pipeline.conftest import PipelineCli, doc


def _dead_letter(cli: PipelineCli) -> str:
    async def go() -> str:
        queue = build_queue(cli.settings.pipeline)
        try:
            client = queue.client  # type: ignore[attr-defined]
            fields = {"v": "99", "type": "add", "payload": '{"messages": "x"}', "dlq_attempts": "1"}
            await client.xadd(queue.keys.dlq, {"event_id": "e1", **fields}, id="5-0")
            return "5-0"
        finally:
            await queue.close()

    return asyncio.run(go())


@pytest.mark.parametrize("command", [["list"], ["replay"], ["replay", "--dry-run"], ["purge", "--yes"]])
@pytest.mark.parametrize("entry_id", ["18446744073709551616-0", "1-99999999999999999999999", "05-0", "5-00"])
def test_an_id_redis_would_refuse_or_misread_is_a_wrong_command_line(
    pipeline_cli: Callable[..., PipelineCli], command: list[str], entry_id: str
) -> None:
    cli = pipeline_cli()
    letter = _dead_letter(cli)
    refused = cli.run("dlq", *command, "--id", entry_id)
    assert refused.exit_code == 2, refused.stdout + refused.stderr
    assert "not a whole DLQ entry id" in " ".join(refused.stderr.replace("│", " ").split())
    assert [d["dlq_id"] for d in doc(cli.run("dlq", "list", "--json"))["results"]] == [letter]


def test_the_largest_id_redis_takes_is_accepted(pipeline_cli: Callable[..., PipelineCli]) -> None:
    cli = pipeline_cli()
    _dead_letter(cli)
    largest = "18446744073709551615-18446744073709551615"
    listed = cli.run("dlq", "list", "--id", largest, "--json")
    assert listed.exit_code == 1, listed.stdout + listed.stderr
    assert doc(listed)["error"]["code"] == "not_found"


def test_list_of_an_id_not_there_fails_and_names_it(pipeline_cli: Callable[..., PipelineCli]) -> None:
    cli = pipeline_cli()
    letter = _dead_letter(cli)
    missing = cli.run("dlq", "list", "--id", letter, "--id", "6-0")
    assert missing.exit_code == 1, missing.stdout
    assert "no dead letter with id 6-0" in missing.stderr
    found = cli.run("dlq", "list", "--id", letter, "--json")
    assert found.exit_code == 0, found.stderr
    assert [d["dlq_id"] for d in doc(found)["results"]] == [letter]


@pytest.mark.parametrize("command", [["list"], ["replay", "--dry-run"], ["purge", "--yes"]])
def test_a_count_past_what_redis_takes_means_every_letter(
    pipeline_cli: Callable[..., PipelineCli], command: list[str]
) -> None:
    cli = pipeline_cli()
    _dead_letter(cli)
    result = cli.run("dlq", *command, "--count", str(2**64), "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    answer = doc(result)
    assert answer.get("results", answer.get("selected", [answer.get("purged")])) != []
