"""Dead letters are anyone's writes (an external producer's, ``redis-cli XADD``): the tables of
``memoryd dlq`` (and of ``memoryd worker --check``, whose heartbeats are Redis's too) show a field's
control characters escaped (``\\x1b``), never sent to the terminal; ``--json`` is JSON, escaped too."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from memoryd.pipeline import build_queue
from tests.pipeline.conftest import PipelineCli, doc

EVIL = "evil\x1b[31mRED\x07\r\u202e[bold]x[/bold]"


def _evil_letter(cli: PipelineCli) -> None:
    async def go() -> None:
        queue = build_queue(cli.settings.pipeline)
        try:
            await queue.client.xadd(  # type: ignore[attr-defined]
                queue.keys.dlq,
                {"event_id": EVIL, "dlq_attempts": "1", "v": "2", "payload": "{}", "dlq_at": f"at{EVIL}",
                 "dlq_error": json.dumps({"code": f"c{EVIL}", "message": f"m{EVIL}"})},
            )  # fmt: skip
        finally:
            await queue.close()

    asyncio.run(go())


def _no_controls(text: str) -> None:
    assert not any(c in text for c in "\x1b\x07\r\u202e"), repr(text)


def test_dlq_tables_show_control_characters_escaped(pipeline_cli: Callable[..., PipelineCli]) -> None:
    cli = pipeline_cli()
    _evil_letter(cli)
    for args in (("dlq", "list"), ("dlq", "replay", "--dry-run")):
        shown = cli.run(*args)
        assert shown.exit_code == 0, shown.stderr
        _no_controls(shown.stdout)
        flat = "".join(shown.stdout.split())  # the table may wrap a long field
        assert "evil\\x1b[31mRED\\x07\\r\\u202e[bold]x[/bold]" in flat, shown.stdout  # markup shown too
        assert "at" + "evil\\x1b" in flat and "mevil\\x1b" in flat, shown.stdout
    listed = cli.run("dlq", "list", "--json")
    assert not any(c in listed.stdout for c in "\x1b\x07\r"), listed.stdout  # JSON escapes C0 controls
    assert doc(listed)["results"][0]["event_id"] == EVIL  # JSON escapes it, and keeps it whole


def test_worker_check_shows_a_heartbeats_control_characters_escaped(
    pipeline_cli: Callable[..., PipelineCli],
) -> None:
    cli = pipeline_cli()

    async def beat() -> None:
        queue = build_queue(cli.settings.pipeline)
        try:
            info = {"consumer": EVIL, "state": f"s{EVIL}", "heartbeat_at": "now"}
            await queue.heartbeat(EVIL, info, 60_000)
        finally:
            await queue.close()

    asyncio.run(beat())
    checked = cli.run("worker", "--check")
    _no_controls(checked.stdout)
    assert "evil\\x1b[31mRED" in "".join(checked.stdout.split()), checked.stdout
