"""``memoryd check`` and ``memoryd reindex``: the store's integrity check and index rebuild.

Both work on the store of the settings (``storage.path``), or of one tenant
(``--tenant``), without a running server; progress bars go to stderr. ``check``
exits 1 when it finds a problem and lists each one with its fix. A ``reindex``
stopped by Ctrl-C, or by an error once it discarded an index, says what state it
left the store in and the command that finishes it (:class:`memoryd.maintenance.ReindexState`).
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from memoryd.cli.output import CliState, Interrupted, Output, counted, errors_to_exit, require_store
from memoryd.errors import ConfigError, InvalidInputError, MemorydError
from memoryd.maintenance import CheckReport, Problem, ReindexState, check_store, reindex_store
from memoryd.maintenance import Progress as ProgressFn
from memoryd.maintenance.commands import respell
from memoryd.maintenance.reindex import READING

__all__ = ["TenantOpt", "check", "command_again", "progress_bar", "reindex", "tenant_state"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")]
TenantOpt = Annotated[
    str | None,
    typer.Option("--tenant", help="Work on this tenant's store (default: the default tenant, storage.path)."),
]


def tenant_state(state: CliState, tenant: str | None) -> CliState:
    """The invocation's state with its settings pointed at ``tenant``'s store (when given; the
    root's -t/--tenant must agree, see :meth:`CliState.tenant_of`)."""
    if tenant is None:
        return state
    from memoryd.auth.principal import check_tenant

    state.require_settings()
    chosen = state.tenant_of(tenant)
    base = state.base or state.require_settings()
    with errors_to_exit(state.output):
        try:
            checked = check_tenant(chosen, "--tenant") if chosen is not None else None
        except InvalidInputError as exc:  # a usage error, as the root's -t is (exit 2)
            raise ConfigError(exc.message, field=exc.field) from None
        return replace(state, settings=base.for_tenant(checked) if checked is not None else base)


@contextmanager
def progress_bar(output: Output) -> Iterator[ProgressFn]:
    """A :class:`memoryd.maintenance.Progress` drawn on stderr: one bar per phase."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=output.err, transient=True, disable=not output.err.is_terminal) as bars:
        tasks: dict[str, TaskID] = {}

        def update(phase: str, advance: int, total: int | None) -> None:
            task = tasks.get(phase)
            if task is None:
                task = tasks[phase] = bars.add_task(phase, total=total)
            elif total is not None:
                bars.update(task, total=total)
            if advance:
                bars.advance(task, advance)

        yield update


def _problems_table(report: CheckReport) -> Table:
    table = Table("role", "problem", "fix", box=None, show_lines=False)
    for p in report.problems:
        table.add_row(p.role, escape(p.message), escape(p.fix))
    return table


def _for_this_store(state: CliState, tenant: str | None, problem: Problem) -> Problem:
    """``problem`` with each command on the checked store spelled with its config file and tenant."""

    def spelled(line: str) -> str:
        try:
            _, command, *args = shlex.split(line)  # "memoryd", the command, its arguments
        except ValueError:  # not a command line after all (an unbalanced quote): as written
            return line
        return command_again(state, tenant, command, *args)

    message, fix = respell(problem.message, spelled), respell(problem.fix, spelled)
    return replace(problem, message=message, fix=fix)


_ONE = {"memories": "memory", "vectors": "vector", "keywords": "keyword entry",
        "graph_memory_refs": "graph memory ref", "tier_turns": "tier turn", "history": "history row"}
_MANY = {"keywords": "keyword entries", "history": "history rows"}


def _counts(counts: dict[str, int]) -> str:
    """" (1 memory, 2 history rows, …)" of what the check read; nothing when it read nothing (the
    store did not open), never "1 memories" or "()"."""
    said = [counted(n, _ONE.get(what, what), _MANY.get(what, what.replace("_", " ")))
            for what, n in counts.items()]  # fmt: skip
    return f" ({', '.join(said)})" if said else ""


def check(ctx: typer.Context, tenant: TenantOpt = None, json_out: JsonOpt = False) -> None:
    """Check the store's integrity; exits 1 on any problem.

    SQLite and FTS integrity, every memory indexed exactly once (vector and keywords) and
    nothing else, history and graph references, and the memory hierarchy (each turn's memory
    current and its owner's, each segment's count of the turns it holds)."""
    state = tenant_state(CliState.of(ctx, json_out), tenant)
    settings = state.require_settings()
    with errors_to_exit(state.output), progress_bar(state.output) as progress:
        require_store(settings, state.base)
        report = asyncio.run(check_store(settings, progress=progress))
    report.problems = [_for_this_store(state, tenant, p) for p in report.problems]
    counts = _counts(report.counts)
    if report.ok:
        state.output.emit(report.to_dict(), f"[green]ok[/green]: {escape(report.path)}{counts}")
        return
    state.output.emit(
        report.to_dict(),
        _problems_table(report),
        f"[bold red]{counted(len(report.problems), 'problem', 'problems')}[/bold red] "
        f"in {escape(report.path)}{counts}",
    )
    raise typer.Exit(1)


BATCH_SIZE = 256  # memories per embedding call, by default


def command_again(state: CliState, tenant: str | None, command: str, *args: str) -> str:
    """The command line that runs ``command`` with ``args`` again: its config file and tenant."""
    words = ["memoryd"]
    if state.config_path:
        words += ["--config", state.config_path]
    words.append(command)
    chosen = tenant if tenant is not None else state.tenant
    if chosen is not None:
        words += ["--tenant", chosen]
    return shlex.join([*words, *args])


def _again(state: CliState, tenant: str | None, batch_size: int, keywords_only: bool) -> str:
    """The command that runs this reindex again: its config file, tenant and options."""
    args = ["--keywords-only"] if keywords_only else []
    if batch_size != BATCH_SIZE:
        args += ["--batch-size", str(batch_size)]
    return command_again(state, tenant, "reindex", *args)


def _stopped(progress: ReindexState, path: str, again: str) -> Interrupted:
    """What Ctrl-C left: the state of the store at ``path`` and the command that finishes it."""
    if progress.stage == "reading":
        then = f"to reindex after all: {again}"
    else:
        then = f"to finish, run the reindex again (it starts over): {again}"
    report = f"the reindex of {path} stopped: {progress.describe()}. {then[0].upper()}{then[1:]}"
    return Interrupted(report, {"path": path, **progress.to_dict(), "finish": again})


def reindex(
    ctx: typer.Context,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Memories per embedding call.")
    ] = BATCH_SIZE,
    keywords_only: Annotated[
        bool,
        typer.Option(
            "--keywords-only", help="Rebuild only the keyword index: no model runs, vectors are kept."
        ),
    ] = False,
    tenant: TenantOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Rebuild the vector and keyword indexes from the record store.

    Re-embeds every memory with the configured embedder (repairs a missing or damaged index;
    moves a store to another model); --keywords-only rebuilds the keyword index alone, in
    seconds. Stop the server and workers first. Ctrl-C says what state the store is left in
    and the command that finishes the reindex."""
    state = tenant_state(CliState.of(ctx, json_out), tenant)
    settings = state.require_settings()
    done = ReindexState(keywords_only=keywords_only)
    with errors_to_exit(state.output), progress_bar(state.output) as progress:
        require_store(settings, state.base)
        try:
            summary = asyncio.run(
                reindex_store(
                    settings, batch_size=batch_size, progress=progress, keywords_only=keywords_only,
                    state=done,
                )  # fmt: skip
            )
        except KeyboardInterrupt:
            again = _again(state, tenant, batch_size, keywords_only)
            raise _stopped(done, str(settings.storage.path), again) from None
        except MemorydError as exc:
            if done.stage != READING:  # an index was discarded: what is left, and how to finish
                again = _again(state, tenant, batch_size, keywords_only)
                exc.add_to_message(
                    f"the reindex stopped: {done.describe()}. To finish, run it again: {again}"
                )
            raise
    how = "(keyword index; no model ran)" if keywords_only else f"with {escape(summary.model)}"
    state.output.emit(
        summary.to_dict(),
        f"[green]reindexed[/green] {counted(summary.memories, 'memory', 'memories')} of "
        f"{escape(summary.path)} {how} in {summary.elapsed_s:.1f} s",
    )
