"""``memoryd export`` and ``memoryd import``: a store, or one user of it, as a JSONL file and back.

The file format is :mod:`memoryd.portability.format`; both commands stream and
draw their progress on stderr, so ``memoryd export -`` can write the file to stdout.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.markup import escape

from memoryd.cli.maintenance import JsonOpt, ProgressFn, TenantOpt, command_again, progress_bar, tenant_state
from memoryd.cli.output import (
    CliState,
    Interrupted,
    UsageError,
    counted,
    errors_to_exit,
    run_with_memory,
    utf8_stdout,
)
from memoryd.config import Settings
from memoryd.errors import InvalidInputError, MemorydError
from memoryd.memory import AsyncMemory
from memoryd.portability import ExportSummary, ImportSummary, export_store, import_store, leftovers
from memoryd.portability.import_ import ImportState, check_file, require_file, same_source
from memoryd.portability.import_lock import ImportLock

__all__ = ["export", "import_"]

BATCH = 256  # rows an import writes per commit, unless --batch-size


def _counts(counts: dict[str, int]) -> str:
    names = {  # kind: (one, many)
        "memory": ("memory", "memories"),
        "history": ("history row", "history rows"),
        "entity": ("entity", "entities"),
        "relation": ("relation", "relations"),
        "tier_segment": ("segment", "segments"),
        "tier_turn": ("tier turn", "tier turns"),
    }
    return ", ".join(counted(n, *names.get(kind, (kind, kind))) for kind, n in counts.items())


def export(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(metavar="PATH", help="The JSONL file to write; - for stdout.")],
    user_id: Annotated[str | None, typer.Option("--user-id", "-u", help="Only this user's data.")] = None,
    vectors: Annotated[
        bool,
        typer.Option(help="Include each memory's vector and index terms (an import with the same embedder "
                     "then embeds nothing)."),
    ] = True,
    page_size: Annotated[int, typer.Option(min=1, max=100_000, help="Rows read per page.")] = 500,
    skip_unreadable: Annotated[
        bool,
        typer.Option("--skip-unreadable",
                     help="Leave out what a damaged store cannot give whole, instead of stopping: "
                          "memories this memoryd cannot read (a newer version's, or damaged) and rows "
                          "naming memories or entities that are gone (`memoryd check` lists both); "
                          "the summary counts them."),
    ] = False,
    tenant: TenantOpt = None,
    json_out: JsonOpt = False,
) -> None:  # fmt: skip
    """Export the store (or one user: --user-id) as JSONL.

    Memories with every field, their history, graph entities and relations. Streams; the file
    appears only once complete."""
    state = tenant_state(CliState.of(ctx, json_out), tenant)
    to_stdout = path == "-" or _is_stdout(path)  # /dev/stdout, /dev/fd/1: no summary in the export
    with errors_to_exit(state.output):
        if to_stdout and state.output.json_mode:
            raise InvalidInputError("--json needs a PATH: with -, stdout holds the export", field="json")
        if to_stdout and sys.stdout is None:  # started with `>&-`
            raise UsageError(f"cannot export to {path}: stdout is closed; give a file PATH", field="path")
        if not to_stdout and Path(path).is_dir():
            raise UsageError(f"cannot export to {path}: it is a directory; give a file path", field="path")
    if to_stdout:
        utf8_stdout()  # the export is UTF-8 whatever the locale: a latin-1 stdout failed on the first 'é'

    async def work(mem: AsyncMemory) -> ExportSummary:
        with progress_bar(state.output) as progress:
            dest = sys.stdout if to_stdout else Path(path)
            return await export_store(
                mem, dest, user_id=user_id, vectors=vectors, page_size=page_size, progress=progress,
                skip_unreadable=skip_unreadable,
            )  # fmt: skip

    summary = run_with_memory(state, work, indexes=False)  # the export opens them if it writes vectors
    text = f"[green]exported[/green] {_counts(summary.counts)} to {escape(path)} in {summary.elapsed_s:.1f} s"
    for note in summary.notes():  # what was left out, and why
        text += f"\n[yellow]{escape(note)}[/yellow]"
    if to_stdout or (sys.stdout is None and not state.output.json_mode):  # the file is the output:
        if to_stdout:  # its summary, a status, goes to stderr when stdout is the file or closed
            sys.stdout.flush()
        for line in (text, *state.output.hints):
            state.output.note(line)
        return
    state.output.emit(summary.to_dict(), text)


def _is_stdout(path: str) -> bool:
    try:
        return os.path.samestat(os.stat(path), os.fstat(1))
    except OSError:  # no such path, or stdout is closed
        return False


def import_(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(metavar="PATH", help="A file written by memoryd export.")],
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Rows written per commit.")] = BATCH,
    restart: Annotated[
        bool,
        typer.Option("--restart",
                     help="Finish an import of PATH that did not finish (stopped, killed, crashed): into "
                          "a new store, delete that store, with the vector index or graph it made in "
                          "another engine (its file deleted by hand, the index or graph that import "
                          "claimed is released); into a store that held memories, delete only what it "
                          "wrote (the memories, history, graph and hierarchy rows of PATH's ids), "
                          "nothing the store held before. Then import. Refused for any other store; "
                          "never while that import still runs."),
    ] = False,
    tenant: TenantOpt = None,
    json_out: JsonOpt = False,
) -> None:  # fmt: skip
    """Import a memoryd export, ids kept.

    The whole file is checked first (format, completeness, no memory id or graph owner already
    in the store): nothing is written unless all is well. An import into a new store that fails
    leaves nothing behind, in other engines either (only what it made: a folder that was there
    is kept). While one runs, another import into the same store, or a --restart, is refused.
    Memories are embedded again when this store's embedder differs from the file's. Ctrl-C says
    what was written (--json: "written") and the command that finishes the import; so does SIGTERM."""
    state = tenant_state(CliState.of(ctx, json_out), tenant)
    with errors_to_exit(state.output):  # the file named is not there: the command line is wrong
        require_file(path, UsageError)
        if not path.exists():
            raise UsageError(f"cannot read {path}: no such file", field="path")
        if path.is_dir():
            raise UsageError(f"cannot read {path}: it is a directory; give the export's file", field="path")
    settings = state.require_settings()
    store = settings.storage.path

    done = ImportState()

    async def work(mem: AsyncMemory, undo: bool, made: bool) -> ImportSummary:
        with progress_bar(state.output) as progress:
            try:
                return await import_store(
                    mem, path, batch_size=batch_size, progress=progress, state=done, restart=undo,
                    new_store=made,
                )  # fmt: skip
            except asyncio.CancelledError:  # Ctrl-C (asyncio.run cancels the task): say what is written
                raise _Stopped from None

    lock = ImportLock(store)  # held to the end: another import, or a --restart, is refused meanwhile
    with errors_to_exit(state.output):
        lock.acquire()
    try:
        with errors_to_exit(state.output), _terminate_as_ctrl_c():
            try:
                summary = _import(state, settings, lock, path, restart, work)
            except _Stopped:  # what it made removed, if the store was new: now say what is left
                args = [str(path)] if batch_size == BATCH else [str(path), "--batch-size", str(batch_size)]
                again = command_again(state, tenant, "import", *args)
                undo = command_again(state, tenant, "import", "--restart", *args)
                raise _stopped(done, path, store, again, undo, restart) from None
    finally:  # a store left unfinished keeps the lock file: what --restart reads
        lock.keep = leftovers.unfinished_import(store) is not None
        lock.release()
    how = f"re-embedded {summary.reembedded}" if summary.reembedded else "vectors reused"
    state.output.emit(
        summary.to_dict(),
        f"[green]imported[/green] {_counts(summary.counts)} from {escape(str(path))} ({how}) "
        f"in {summary.elapsed_s:.1f} s",
    )


@contextmanager
def _terminate_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (`kill`, `timeout`, a service manager, `docker stop`) stops the import as Ctrl-C
    does: what it made is removed (a new store) or said (:func:`_stopped`), rather than left for
    `--restart`. Where SIGINT is ignored (started in the background by a shell) or no handler can
    be set, SIGTERM ends the process as it would have."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return

    def on_term(signum: int, frame: FrameType | None) -> None:
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):  # asyncio's (cancels the import's task) or Python's (KeyboardInterrupt)
            handler(signal.SIGINT, frame)
            return
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Stopped(Exception):
    """Ctrl-C stopped the import once it had opened the store (:class:`ImportState` says how far
    it got); not a KeyboardInterrupt, so that the report waits for the clean-up of a new store."""


def _stopped(
    done: ImportState, source: Path, store: Path, again: str, undo: str, restart: bool
) -> Interrupted:
    """What Ctrl-C left in ``store`` of the import of ``source``, and how to finish: ``again``
    runs it again, ``undo`` (its ``--restart``) first removes what it wrote into a store that held
    memories (:mod:`memoryd.portability.undo`)."""
    written = {kind: n for kind, n in done.written.items() if n}
    document = {"path": str(source), "store": str(store), "written": written, "finish": again}
    partial = store.exists() and not done.new and same_source(leftovers.partial_import(store), source)
    if not store.exists():  # a new store, removed with what it made elsewhere
        report = f"nothing was imported, and no store is left at {store}. To import, run it again: {again}"
    elif done.new:  # a new store its clean-up could not remove (said above)
        report = f"the new store {store} holds part of {source} and is kept (see above)"
    elif not written and not (restart and partial):
        report = f"nothing was written into {store}. To import, run it again: {again}"
    else:
        document["finish"] = undo
        what = (
            f"{_counts(written)} of {source} {'was' if list(written.values()) == [1] else 'were'} written "
            f"into {store}, beside what it held"
            if written
            else f"{store} still holds part of {source}, beside what it held"
        )
        report = (
            f"{what} (`memoryd check` reports them). To finish, run: "
            f"{undo} (it deletes only what this import wrote, nothing the store held before, and "
            "imports the file again)"
        )
    return Interrupted(report, document)


def _import(
    state: CliState, settings: Settings, lock: ImportLock, path: Path, restart: bool,
    work: Callable[[AsyncMemory, bool, bool], Awaitable[ImportSummary]],
) -> ImportSummary:  # fmt: skip
    """The import, under ``lock``: a failure after it made a new store removes what it made."""
    made: leftovers.Made | None = None
    undo = False  # an unfinished import into a store that held memories: only what it wrote goes
    with errors_to_exit(state.output):
        if restart and leftovers.partial_import(settings.storage.path) is not None:
            undo = True
        elif restart:
            asyncio.run(leftovers.restart(settings, lock.made()))
        if not settings.storage.path.exists():  # a failed import into a new store leaves nothing behind
            with progress_bar(state.output) as progress:  # a big file takes a while: say so
                try:  # refused before anything is made
                    asyncio.run(check_file(path, _before_the_store(progress)))
                except KeyboardInterrupt:
                    raise _Stopped from None
            made = leftovers.claim(settings)
            if made is not None:
                lock.record(list(made.local))
    try:
        # A store that was there (a running server's, even empty) is no new store: an unfinished
        # import leaves it open, and --restart removes only what the import wrote.
        return run_with_memory(state, lambda mem: work(mem, undo, made is not None), create=True)
    except BaseException:
        if made is not None:
            _remove(state, settings, made, path)
        raise


def _before_the_store(progress: ProgressFn) -> ProgressFn:
    """``progress`` of the check of a file before its new store is made (the import then checks it
    again, against the store, under the usual label)."""
    return lambda label, done, total: progress(f"{label} (before creating the store)", done, total)


def _remove(state: CliState, settings: Settings, made: leftovers.Made, source: Path) -> None:
    """After a failed import into a new store: remove what it made (:mod:`memoryd.portability.leftovers`);
    an engine that cannot be asked keeps the store, and says how to finish."""
    try:  # the import's own clients are closed by now, a late write's too (OutsideIndex.closed)
        asyncio.run(leftovers.remove_store(settings, made, source=str(source)))
    except MemorydError as exc:
        state.output.note(
            f"[yellow]the store at {escape(str(settings.storage.path))} is kept[/yellow]: what it made in "
            f"another engine could not be removed ({escape(exc.message)}); once that engine answers, "
            "`memoryd import --restart` removes it and imports again"
        )
