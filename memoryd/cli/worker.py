"""``memoryd worker``: a consumer of the async pipeline's event stream.

Runs until SIGTERM or Ctrl-C, which drain (the batch in hand is finished and
recorded); a second one stops at once (exit status 128 + the signal's number:
143 for SIGTERM, 130 for SIGINT; what it held is redelivered). ``--burst``
processes what is queued and exits (1 when Redis, or the store, kept failing it for 30 s),
``--check`` reports whether a worker is alive and the pipeline not degraded (exit 0) or not
(exit 1), for health probes. A worker whose name another process took while it stalled exits 2.
Before it runs, a worker refuses a Redis that evicts keys and warns of one that
persists nothing (:mod:`memoryd.pipeline.redis_health`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from memoryd.cli.dlq import shown
from memoryd.cli.output import CliState, UsageError, counted, errors_to_exit, health_check_exit
from memoryd.config import PipelineConfig, Settings
from memoryd.embedders.base import close_embedder, make_embedder
from memoryd.errors import ConfigError, StorageError
from memoryd.memory import AsyncMemory
from memoryd.pipeline import Worker, WorkerReport, build_queue
from memoryd.pipeline.prefetch import PrefetchEmbedder
from memoryd.pipeline.redis_consumers import worker_problems
from memoryd.pipeline.redis_health import (
    RedisWatch,
    check_at_start,
    inspect,
    keep_watching,
    misconfigured,
)
from memoryd.pipeline.worker import default_consumer
from memoryd.registry import resolve

__all__ = ["pipeline_settings", "worker"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")]


def pipeline_settings(
    settings: Settings, *, group: str | None = None, consumer: str | None = None, batch: int | None = None
) -> Settings:
    """``settings`` with the command line's pipeline overrides, held to the rules of the settings
    they override (:class:`UsageError` naming the option: an empty ``--group``, say, would create a
    group of that name in Redis)."""
    update: dict[str, Any] = {}
    if group is not None:
        update["group"] = group
    if consumer is not None:
        update["consumer"] = consumer
    if batch is not None:
        update["batch_size"] = batch
    if not update:
        return settings
    try:
        pipeline = PipelineConfig.model_validate({**dict(settings.pipeline), **update})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else ""
        option = "batch" if name == "batch_size" else name
        raise UsageError(f"--{option}: {first['msg']} (got {update.get(name)!r})", field=option) from None
    return settings.model_copy(update={"pipeline": pipeline})


def _log_to_stderr(level: str) -> None:
    logger = logging.getLogger("memoryd")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())


async def _check_redis(settings: Settings, watch: RedisWatch) -> None:
    """Before a worker starts: refuse a Redis that evicts (ConfigError), set or find the marker, log
    what is risky. A Redis that does not answer yet is the worker's to wait for; one that refuses
    pipeline.redis_url's password or database is a configuration error (ConfigError), which no wait mends."""
    queue = build_queue(settings.pipeline)
    try:
        await queue.ensure_group()
        await check_at_start(queue, settings.pipeline, watch)
    except StorageError as exc:
        if misconfigured(exc):  # a configuration error: waiting for it would be forever
            raise ConfigError(exc.message, field="pipeline.redis_url") from exc
    finally:
        await queue.close()


async def _work(
    settings: Settings, burst: bool, watch: RedisWatch, announce: Callable[[], None]
) -> tuple[str, WorkerReport, int | None, bool]:
    """Run a worker; returns its name, its report, the signal that stopped it at once (if one did) and
    whether its run had ended first (its batches recorded: it held nothing when that signal came).
    ``announce`` says it runs, once its store is open (a store it cannot open is one error line)
    and it holds its name (one a live worker holds is refused: one error line, no banner)."""
    cfg = settings.embedder
    model = make_embedder(resolve("embedder", cfg.provider), cfg)
    queue = build_queue(settings.pipeline, blocking=True)
    worker: Worker | None = None
    ended = False
    watching = asyncio.create_task(keep_watching(queue, settings.pipeline, watch))
    try:
        async with AsyncMemory(settings, embedder=PrefetchEmbedder(model)) as memory:
            await memory.warm()
            worker = Worker(memory, queue, settings.pipeline)
            worker.install_signal_handlers()
            await worker.run(burst=burst, started=announce)
            ended = True
    except asyncio.CancelledError as exc:
        _stopped_at_once(worker, exc)
    finally:
        try:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            await queue.close()
        except asyncio.CancelledError as exc:  # a second signal during the clean-up: stopped at once too
            _stopped_at_once(worker, exc)
        finally:
            close_embedder(model)
    assert worker is not None  # else the cancel was raised on above
    # A second signal that came once the run had ended (its cancel eaten, or not landed yet) counts.
    return worker.consumer, worker.report, worker.stopped_by, ended


def _stopped_at_once(worker: Worker | None, cancel: asyncio.CancelledError) -> None:
    """The ``cancel`` a worker's second signal made is handled (the clean-up may await again; the
    caller exits 128 + the signal); any other is raised on."""
    if worker is None or worker.stopped_by is None:
        raise cancel
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        task.uncancel()


async def _check(settings: Settings, consumer: str | None, local: bool = False) -> dict[str, Any]:
    queue = build_queue(settings.pipeline)
    try:
        stats = await queue.stats()
        alive = await queue.worker_info(consumer)
        found = await inspect(queue, settings.pipeline, counters=stats.counters)
    finally:
        await queue.close()
    if local:  # a container's own worker: its host name is the container's
        alive = [w for w in alive if w.get("host") == socket.gethostname()]
    problems = [*found.problems, *worker_problems(alive)]  # as /health counts them
    report = {"ok": bool(alive) and not problems, "alive": bool(alive), "redis": queue.where,
              "stream": queue.keys.stream, "workers": alive, **stats.to_dict(),
              "problems": problems, "warnings": found.warnings}  # fmt: skip
    if found.data_lost is not None:
        report["data_lost"] = found.data_lost.to_dict()
    return report


def _workers_table(workers: list[dict[str, Any]]) -> Table:
    table = Table("consumer", "state", "processed", "rate/s", "dead-lettered", "heartbeat", box=None)
    for w in workers:
        # A heartbeat is anyone's write to Redis: its fields are shown escaped (see dlq.shown).
        table.add_row(
            shown(w.get("consumer")), shown(w.get("state")), shown(w.get("processed", 0)),
            shown(w.get("rate", 0)), shown(w.get("dead_lettered", 0)), shown(w.get("heartbeat_at", "")),
        )  # fmt: skip
    return table


def worker(
    ctx: typer.Context,
    burst: Annotated[
        bool, typer.Option("--burst", help="Process what is queued (retries included), then exit.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Exit 0 if a worker (--consumer: that one) is alive and the pipeline is not degraded "
            "(Redis evicting, full or lost its data, events failing with none processed), else 1.",
        ),
    ] = False,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="With --check: only workers on this machine (its host name; a container's health check).",
        ),
    ] = False,
    group: Annotated[str | None, typer.Option(help="Consumer group (default: pipeline.group).")] = None,
    consumer: Annotated[
        str | None, typer.Option(help="This worker's name (default: pipeline.consumer, else host-pid).")
    ] = None,
    batch: Annotated[
        int | None, typer.Option(min=1, max=1000, help="Events per batch (default: pipeline.batch_size).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Process the async pipeline's queued adds (consumer group, batched embeddings, retries, DLQ).

    Runs until SIGTERM or Ctrl-C, which drain: the batch in hand is finished first.
    Run several, on one or many machines, with the same --group and distinct --consumer names.

    Exit codes: 0 stopped cleanly; 1 it could not go on (--burst: Redis unreachable, or the store
    refusing the adds, for 30 s; an unexpected error that keeps coming back; a batch it could not
    record); 2 a configuration error, or its consumer name held by another live process (at start,
    or taken while it stalled); 128 + the signal's number when a second signal stopped it at once.
    """
    state = CliState.of(ctx, json_out)
    out = state.output
    if local and not check:
        raise typer.BadParameter("only goes with --check", param_hint="--local")
    for given, option in ((burst, "--burst"), (batch is not None, "--batch")):
        if check and given:  # else silently ignored: --check runs no worker
            raise typer.BadParameter("does not go with --check, which runs no worker", param_hint=option)
    if check:
        with health_check_exit(), errors_to_exit(out):
            checked = pipeline_settings(state.require_settings(), group=group, consumer=consumer)
            report = asyncio.run(_check(checked, consumer, local))
        where = f" on {socket.gethostname()}" if local else ""
        who = (f"worker {consumer!r}" if consumer else "a worker") + where
        if report["alive"]:
            verdict = f"[green]{who} is alive[/green]"
        elif consumer:
            verdict = f"[red]{who} is not alive[/red]"
        else:  # "no worker is alive", not "a worker is not alive"
            verdict = f"[red]no worker{where} is alive[/red]"

        summary = (
            f"{verdict} · stream {report['stream']} on {report['redis']}: "
            f"lag {'unknown' if report['lag'] is None else report['lag']}, "
            f"pending {report['pending']}, dlq {report['dlq_size']}, {report['processing_rate']} events/s; "
            f"{counted(report['workers_alive'], 'live worker', 'live workers')}, "
            f"{counted(report['group_consumers'], 'consumer', 'consumers')} in the group"
            + (f" ({report['dead_consumers']} with no live worker)" if report["dead_consumers"] else "")
        )
        summary += "".join(f"\n[red]degraded:[/red] {p}" for p in report["problems"])
        summary += "".join(f"\n[yellow]warning:[/yellow] {w}" for w in report["warnings"])
        none = escape(("no worker" + (f" {consumer!r}" if consumer else "")) + where) + " is running"
        listed = _workers_table(report["workers"]) if report["workers"] else none  # not an empty table
        out.emit(report, listed, summary)
        raise typer.Exit(0 if report["ok"] else 1)
    with errors_to_exit(out):  # a missing extra is one error line, before the worker says it runs
        settings = pipeline_settings(state.require_settings(), group=group, consumer=consumer, batch=batch)
        resolve("queue", settings.pipeline.backend)
        resolve("embedder", settings.embedder.provider)
    if not settings.pipeline.enabled:
        out.note("[yellow]note:[/yellow] pipeline.enabled is off, so the server does not queue adds")
    _log_to_stderr(settings.server.log_level)
    watch = RedisWatch(f"worker {settings.pipeline.consumer or default_consumer()}")
    with errors_to_exit(out):  # a Redis that evicts is refused before the worker says it runs
        asyncio.run(_check_redis(settings, watch))
    banner = f"worker consuming {settings.pipeline.ns} (group {settings.pipeline.group})" + (
        ": burst mode" if burst else "; SIGTERM or Ctrl-C drains and stops"
    )
    with errors_to_exit(out):
        try:
            name, report_, stopped_by, ended = asyncio.run(
                _work(settings, burst, watch, lambda: out.note(banner))
            )
        except asyncio.CancelledError:
            raise KeyboardInterrupt from None  # cancelled before a worker ran: "interrupted", 130
    if stopped_by is not None:
        held = (
            "it had finished its drain first (every batch recorded): it held nothing"
            if ended
            else "the events it held will be redelivered"
        )
        out.note(
            f"[yellow]worker {name} stopped at once[/yellow] by a second {signal.Signals(stopped_by).name}; "
            + held
        )
        raise typer.Exit(128 + stopped_by)
    doc = {"consumer": name, **report_.to_dict()}
    out.emit(
        doc,
        f"worker {name}: {report_.processed} processed, "
        f"{counted(report_.duplicates, 'duplicate', 'duplicates')}, "
        f"{report_.retried} retried, {report_.dead_lettered} dead-lettered",
    )
