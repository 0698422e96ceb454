"""``memoryd export`` and ``memoryd import``: a store, or one user of it, as a JSONL file and back.

The file format is :mod:`memoryd.portability.format`; both commands stream and
draw their progress on stderr, so ``memoryd export -`` can write the file to stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from memoryd.cli.maintenance import JsonOpt, TenantOpt, progress_bar, tenant_state
from memoryd.cli.output import CliState, errors_to_exit, run_with_memory
from memoryd.errors import InvalidInputError
from memoryd.memory import AsyncMemory
from memoryd.portability import ExportSummary, ImportSummary, export_store, import_store

__all__ = ["export", "import_"]


def _counts(counts: dict[str, int]) -> str:
    plural = {
        "memory": "memories",
        "history": "history rows",
        "entity": "entities",
        "relation": "relations",
        "tier_segment": "segments",
        "tier_turn": "tier turns",
    }
    return ", ".join(f"{n} {plural.get(kind, kind)}" for kind, n in counts.items())


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
    to_stdout = path == "-"
    with errors_to_exit(state.output):
        if to_stdout and state.output.json_mode:
            raise InvalidInputError("--json needs a PATH: with -, stdout holds the export", field="json")

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
    if to_stdout:
        sys.stdout.flush()
        for line in (text, *state.output.hints):
            state.output.note(line)
        return
    state.output.emit(summary.to_dict(), text)


def import_(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(metavar="PATH", help="A file written by memoryd export.")],
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Rows written per commit.")] = 256,
    tenant: TenantOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Import a memoryd export, ids kept.

    The whole file is checked first (format, completeness, no memory id or graph owner already
    in the store): nothing is written unless all is well.
    Memories are embedded again when this store's embedder differs from the file's."""
    state = tenant_state(CliState.of(ctx, json_out), tenant)

    async def work(mem: AsyncMemory) -> ImportSummary:
        with progress_bar(state.output) as progress:
            return await import_store(mem, path, batch_size=batch_size, progress=progress)

    store = state.require_settings().storage.path
    made_here = not store.exists()  # a refused import must not leave an empty store behind
    try:
        summary = run_with_memory(state, work, create=True)
    except BaseException:
        if made_here and not _unfinished(store):
            for part in (store, store.with_name(store.name + "-wal"), store.with_name(store.name + "-shm")):
                part.unlink(missing_ok=True)
        raise
    how = f"re-embedded {summary.reembedded}" if summary.reembedded else "vectors reused"
    state.output.emit(
        summary.to_dict(),
        f"[green]imported[/green] {_counts(summary.counts)} from {escape(str(path))} ({how}) "
        f"in {summary.elapsed_s:.1f} s",
    )


def _unfinished(store: Path) -> bool:
    """Whether ``store`` holds part of an import (its rows are evidence: kept, and refused at open)."""
    import sqlite3

    from memoryd.storage import IMPORT_UNFINISHED

    try:
        conn = sqlite3.connect(store)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (IMPORT_UNFINISHED,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return bool(row and row[0])
