"""``memoryd dlq``: the async pipeline's dead-letter stream (``chat_log:dlq``).

``list`` shows each dead event with its error and attempts; ``replay`` puts
them back on the stream as fresh first attempts (after a fix), ``--dry-run``
showing what it would do with each letter and changing nothing; ``purge`` deletes
them all. A replay leaves in the DLQ a letter whose event id names another add now
(reused after its status expired), and removes one whose event is done already; it
reports both, and a dry run reports them as it would; a letter another process replayed or purged
between the listing and the replay is reported as not found (``gone``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from memoryd.cli.output import CliState, UsageError, counted, errors_to_exit, printable
from memoryd.config import Settings
from memoryd.errors import NotFoundError
from memoryd.pipeline import build_queue
from memoryd.pipeline.base import DeadLetter, EventQueue, Replayed, is_entry_id

__all__ = ["app", "shown"]

app = typer.Typer(
    help="The async pipeline's dead-letter queue: list, replay, purge.",
    no_args_is_help=True,
    add_completion=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")]
CountOpt = Annotated[
    int, typer.Option("--count", "-n", min=1, help="At most this many entries, oldest first.")
]


def _entry_ids(ids: list[str] | None) -> list[str] | None:
    """Whole entry ids only (see :func:`~memoryd.pipeline.base.is_entry_id`), each once: an id given
    twice is one entry, and counts once against ``--count``."""
    for entry_id in ids or []:
        if not is_entry_id(entry_id):
            msg = f"{entry_id!r} is not a whole DLQ entry id: give <ms>-<seq>, as `memoryd dlq list` shows it"
            raise typer.BadParameter(msg)
    return list(dict.fromkeys(ids)) if ids else ids


IdsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--id",
        help="Only this DLQ entry id, <ms>-<seq> as `dlq list` shows it (repeatable).",
        show_default=False,
        callback=_entry_ids,
    ),
]


async def _selected(queue: EventQueue, count: int, ids: list[str] | None, verb: str) -> list[DeadLetter]:
    """The oldest ``count`` dead letters, or those of ``ids``: every one of them, or nothing happens
    (a mistyped id, or one replayed or purged already, is no success)."""
    letters = await queue.dlq_list(count, ids)
    missing = [i for i in dict.fromkeys(ids or []) if i not in {d.dlq_id for d in letters}]
    if missing:
        hint = "`memoryd dlq list` without --id"
        if verb != "listed":
            hint = f"nothing {verb}; `memoryd dlq list`"
        raise NotFoundError(
            f"no dead letter with id {', '.join(missing)} in {queue.keys.dlq} (replayed or purged "
            f"already, or mistyped): {hint} shows the ids",
            field="id",
        )
    return letters


async def _letters(settings: Settings, count: int, ids: list[str] | None) -> tuple[list[DeadLetter], int]:
    """As :func:`_selected` (an --id that is not there is an error, exit 1, as for replay and purge),
    and how many letters the DLQ holds."""
    queue = build_queue(settings.pipeline)
    try:
        size = (await queue.dlq_tail())[0]
        letters = await _selected(queue, count, ids, "listed")
        return letters, max(size, len(letters))
    finally:
        await queue.close()


def _more(left: int, count: int, verb: str) -> str:
    """What a summary says of the letters past ``--count`` (none: nothing)."""
    return f"; {left} more in the DLQ not {verb} (--count {count}: the oldest only)" if left > 0 else ""


def shown(value: object) -> str:
    """``value`` as a table cell: its rich markup escaped, and each character that is not printable
    (ESC, CR, BEL, a bidi override, a lone surrogate) written as Python escapes it (``\\x1b``), never
    sent to the terminal as it is: a dead letter's fields (and a heartbeat's) are anyone's writes."""
    return escape(printable(value).replace("\n", "\\n").replace("\t", "\\t"))


def _table(letters: list[DeadLetter]) -> list[Table]:
    """The letters as a table; none for no letters (not a header above nothing: the summary says 0)."""
    if not letters:
        return []
    table = Table("dlq id", "event id", "attempts", "error", "dead at", box=None)
    for d in letters:
        error = f"{d.error.get('code', '?')}: {d.error.get('message', '')}"
        table.add_row(
            shown(d.dlq_id), shown(d.event_id or "?"), str(d.attempts), shown(error), shown(d.dead_at or "")
        )
    return [table]


@app.command("list")
def list_(ctx: typer.Context, count: CountOpt = 100, ids: IdsOpt = None, json_out: JsonOpt = False) -> None:
    """Show dead events, oldest first: id, event id, attempts, error.

    An --id that is not in the DLQ is an error (exit 1), as for replay and purge."""
    state = CliState.of(ctx, json_out)
    settings = state.require_settings()
    with errors_to_exit(state.output):
        letters, size = asyncio.run(_letters(settings, count, ids))
    left = 0 if ids else size - len(letters)
    results = [d.to_dict() for d in letters]
    state.output.emit(
        {"stream": f"{settings.pipeline.ns}:dlq", "dlq_size": size, "results": results},
        *_table(letters),
        counted(len(letters), "dead letter", "dead letters") + _more(left, count, "listed"),
    )


@app.command()
def replay(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be replayed; change nothing.")
    ] = False,
    count: CountOpt = 100,
    ids: IdsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Put dead events back on the stream as fresh first attempts (after fixing what failed them).

    --dry-run says what the replay would do with each letter (replay it, leave it as a conflict,
    remove it as finished; --json lists each), and changes nothing. A letter gone since it was listed
    (another process replayed or purged it) is reported as not found (`gone` in --json); exit 1 when it was
    one asked for by --id, as for an --id not there at all."""
    state = CliState.of(ctx, json_out)
    settings = state.require_settings()

    async def go() -> tuple[list[DeadLetter], Replayed, int]:
        queue = build_queue(settings.pipeline)
        try:
            size = 0 if ids else (await queue.dlq_tail())[0]
            letters = await _selected(queue, count, ids, "replayed")
            moved = await queue.dlq_replay(letters, dry_run=dry_run)
            return letters, moved, max(0, size - len(letters))
        finally:
            await queue.close()

    with errors_to_exit(state.output):
        if ids and len(ids) > count:
            raise UsageError(f"{len(ids)} ids given but --count is {count}", field="count")
        letters, moved, left = asyncio.run(go())
    doc: dict[str, Any] = {
        "dry_run": dry_run,
        "selected": [d.to_dict() for d in letters],
        "replayed": len(moved.letters),
        "replayed_ids": moved.letters,
        "stream_ids": moved.stream_ids,
        "conflicts": moved.conflicts,
        "finished": moved.finished,
        "gone": moved.gone,
        "not_selected": left,
    }
    summary = (
        f"{'would replay' if dry_run else 'replayed'} {counted(len(moved.letters), 'event', 'events')} "
        f"onto {settings.pipeline.ns}"
    )
    if moved.conflicts:
        summary += (
            f"; [yellow]{'would leave' if dry_run else 'left'} {len(moved.conflicts)} in the DLQ[/yellow] "
            f"({', '.join(moved.conflicts)}): their event id names another add now, which a replay would be "
            "taken for (replay them once that add's status has expired, or add them again under ids of "
            "their own)"
        )
    if moved.finished:
        summary += (
            f"; {'would remove' if dry_run else 'removed'} {len(moved.finished)} "
            f"({', '.join(moved.finished)}) whose event is done already (a worker that had stalled stored it "
            "after it was dead-lettered)"
        )
    if moved.gone:
        summary += (
            f"; [red]{len(moved.gone)} not found[/red] ({', '.join(moved.gone)}): gone from the DLQ since it "
            "was listed (replayed or purged by another process meanwhile)"
        )
    summary += _more(left, count, "taken")
    if dry_run:
        summary += "; nothing changed (dry run)"
    state.output.emit(doc, *_table(letters), summary)
    if set(moved.gone) & set(ids or []):  # a letter asked for by --id that is not there: as before listing
        raise typer.Exit(1)


@app.command()
def purge(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first.")] = False,
    count: Annotated[
        int | None, typer.Option("--count", "-n", min=1, help="Only the oldest this many entries.")
    ] = None,
    ids: IdsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Delete dead letters: every one, the oldest --count, or those of --id (asks first unless --yes).

    Only what the question counted goes: letters that arrive meanwhile are kept."""
    state = CliState.of(ctx, json_out)
    settings = state.require_settings()
    stream = f"{settings.pipeline.ns}:dlq"

    async def survey() -> tuple[list[str] | None, int, str | None]:
        """The ids to delete (None: every one up to the newest), how many, and the newest id."""
        queue = build_queue(settings.pipeline)
        try:
            if ids or count:
                letters = await _selected(queue, count or len(ids or []), ids, "purged")
                return [d.dlq_id for d in letters], len(letters), None
            size, newest = await queue.dlq_tail()
            return None, size, newest
        finally:
            await queue.close()

    async def delete(chosen: list[str] | None, newest: str | None) -> int:
        queue = build_queue(settings.pipeline)
        try:
            return await queue.dlq_purge(ids=chosen, up_to=newest) if chosen or newest else 0
        finally:
            await queue.close()

    with errors_to_exit(state.output):
        if ids and count and len(ids) > count:
            raise UsageError(f"{len(ids)} ids given but --count is {count}", field="count")
        chosen, size, newest = asyncio.run(survey())
    if size and not yes:
        question = f"Delete {counted(size, 'dead letter', 'dead letters')} of {stream}?"
        state.output.confirm(question, "nothing purged")
    with errors_to_exit(state.output):
        purged = asyncio.run(delete(chosen, newest)) if size else 0
    purged_text = f"[red]purged[/red] {counted(purged, 'dead letter', 'dead letters')} of {stream}"
    state.output.emit({"purged": purged}, purged_text)
