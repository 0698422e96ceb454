"""The ``memoryd`` command line: a typer app over :class:`memoryd.AsyncMemory`.

``memoryd`` alone runs the REST server. The root callback builds the settings
once (``--config`` TOML file, ``MEMORYD_*`` environment) and keeps them, with
the output switches, in a :class:`~memoryd.cli.output.CliState` for every
command. Expected errors print one red line: exit 2 when the command line (or the
configuration) is wrong, 1 when the operation fails (:mod:`memoryd.cli.usage`).
``--json`` (on the root or on a command) prints exactly one JSON document on stdout.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypedDict

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree as RichTree

from memoryd import __version__
from memoryd.auth.principal import check_tenant
from memoryd.cli.adding import BatchedAdd, add_in_batches, check_messages, stdin_text
from memoryd.cli.fit import fitting
from memoryd.cli.output import (
    CliState,
    FileDataError,
    Output,
    UsageError,
    add_table,
    checks_table,
    config_text,
    counted,
    errors_to_exit,
    exit_code,
    health_check_exit,
    history_table,
    hits_table,
    output_lost,
    page_table,
    parse_json_option,
    printable,
    read_messages,
    record_table,
    run_with_memory,
    when,
)
from memoryd.cli.usage import EXIT_STATUS, finish_commands
from memoryd.config import Settings, load_settings
from memoryd.config_sources import CONFIG_ENV, bind_host
from memoryd.errors import ConfigError, InvalidInputError, MemorydError
from memoryd.hierarchy.tree import LONG_TERM_SHOWN, SEGMENTS_SHOWN
from memoryd.memory import AsyncMemory
from memoryd.models import AddResults, id_tag

__all__ = ["app", "main"]

app = typer.Typer(
    name="memoryd",
    help="Self-hosted long-term memory for LLM apps. With no command, runs the REST server (`serve`).",
    epilog=EXIT_STATUS,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

# -- options shared by several commands ---------------------------------------
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")]
UserOpt = Annotated[str | None, typer.Option("--user-id", "-u", help="Scope: the user.")]
AgentOpt = Annotated[str | None, typer.Option("--agent-id", "-a", help="Scope: the agent.")]
RunOpt = Annotated[str | None, typer.Option("--run-id", "-r", help="Scope: the run / session.")]
FiltersOpt = Annotated[
    str | None, typer.Option(help='Metadata filter, JSON: \'{"topic": "travel"}\'.', metavar="JSON")
]
AsOfOpt = Annotated[str | None, typer.Option(help="As things stood at this time (ISO 8601).", metavar="ISO")]
NowOpt = Annotated[
    str | None,
    typer.Option(
        help="The asker's now (ISO 8601; default: the clock): 'last Sunday' in the query is read against "
        "it, and with an offset the context dates turns in it.",
        metavar="ISO",
    ),
]
IdArg = Annotated[str, typer.Argument(metavar="ID", help="The memory id.")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", envvar=CONFIG_ENV, help="TOML config file.", metavar="PATH"),
]


class ScopeArgs(TypedDict, total=False):
    user_id: str
    agent_id: str
    run_id: str


def _scope(user_id: str | None, agent_id: str | None, run_id: str | None) -> ScopeArgs:
    scope = ScopeArgs()
    if user_id is not None:
        scope["user_id"] = user_id
    if agent_id is not None:
        scope["agent_id"] = agent_id
    if run_id is not None:
        scope["run_id"] = run_id
    return scope


def _version(value: bool) -> None:
    if value:
        typer.echo(f"memoryd {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    tenant: Annotated[
        str | None,
        typer.Option(
            "--tenant",
            "-t",
            help="Work on this tenant's store (data commands; the server serves every tenant).",
        ),
    ] = None,
) -> None:
    """Self-hosted long-term memory for LLM apps.

    With no command, runs the REST server (same as `memoryd serve`). Settings come
    from defaults, then the --config TOML file ($MEMORYD_CONFIG), then MEMORYD_*
    variables (nested keys use a double underscore: MEMORYD_STORAGE__PATH).
    """
    env = dict(os.environ)
    path = str(config) if config else None
    settings: Settings | None = None
    loaded: Settings | None = None
    error: ConfigError | None = None
    try:
        loaded = load_settings(path, env=env)
        # Only a valid tenant's settings: a refused one must never leave the default's to act on.
        settings = loaded.for_tenant(check_tenant(tenant, "--tenant")) if tenant is not None else loaded
    except ConfigError as exc:  # reported (exit 2) by the first command that needs settings
        error = exc
    except InvalidInputError as exc:
        error = ConfigError(exc.message, field=exc.field)
    ctx.obj = CliState(Output(json_out), path, env, settings, error, tenant=tenant, base=loaded)
    if ctx.invoked_subcommand is None:
        serve(ctx)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (default: server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: server.port).", min=0, max=65535)] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Start nothing: exit 0 if the server these settings (and --host/--port) describe "
            "answers /health/ready, else 1 (a container's health check; needs no curl).",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Run the REST server (the default command)."""
    state = CliState.of(ctx, json_out)
    if host is not None:  # as server.host is checked: a URL or "[::1" ended --check in a traceback
        try:
            host = bind_host(host)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--host") from None
    if check:
        from memoryd.cli.probe import ready

        with health_check_exit():
            answer = ready(state.require_settings(), host, port)
            colour = "green" if answer.ok else "red"
            line = f"[{colour}]{escape(answer.detail)}[/{colour}] · {escape(answer.url)}"
            state.output.emit(answer.to_dict(), line)
            raise typer.Exit(0 if answer.ok else 1)
    settings = state.require_settings()
    try:
        from memoryd.server.run import serve as run_server
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("memoryd.server"):
            raise
        state.output.error(MemorydError("the REST server is not part of this build (memoryd.server.run)"))
        raise typer.Exit(1) from None
    with errors_to_exit(state.output):
        run_server(settings, host=host, port=port)


@app.command()
def add(
    ctx: typer.Context,
    texts: Annotated[
        list[str] | None,
        typer.Argument(metavar="TEXT", help="Texts to remember, one memory each (- : stdin, as one text)."),
    ] = None,
    user_id: UserOpt = None,
    agent_id: AgentOpt = None,
    run_id: RunOpt = None,
    role: Annotated[str, typer.Option(help="Role of TEXT: user, assistant, system or tool.")] = "user",
    metadata: Annotated[
        str | None, typer.Option(help="Metadata object for every item.", metavar="JSON")
    ] = None,
    timestamp: Annotated[str | None, typer.Option(help="When it was said (ISO 8601).", metavar="ISO")] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="JSONL, or a JSON list, of messages {role, content, timestamp} (- : stdin)."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Messages per write for --file.", min=1)] = 200,
    mode: Annotated[
        str | None,
        typer.Option(
            help="fast (episodes and what the rules read) or fine (LLM extraction); default: fine with an LLM"
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Remember TEXT and/or the messages of --file.

    Prints one result per item (ADD or NOOP), then one per memory the fast-mode rules read in
    them (ADD, SUPERSEDE, NOOP), and in fine mode one per extracted fact (ADD, UPDATE,
    SUPERSEDE, NOOP, DELETE), with the LLM calls and, if the LLM failed, why only the messages
    were stored, or, if it left work undone (an answer cut short), what. Every message is checked
    before the first batch is written; a batch that fails later says what the earlier ones stored,
    and so does Ctrl-C, once the batch being written is in (Ctrl-C again: at once; --json then
    prints the results so far with "stored", "interrupted" and "maybe_stored")."""
    state = CliState.of(ctx, json_out)
    scope = _scope(user_id, agent_id, run_id)
    settings = state.require_settings()
    with errors_to_exit(state.output):
        meta = parse_json_option(metadata, "metadata")
        if (texts or []).count("-") + (str(file) == "-") > 1:
            raise UsageError("stdin is read once: give - as one TEXT or as --file, not both", field="texts")
        items: list[Any] = [{"role": role, "content": stdin_text() if t == "-" else t} for t in texts or []]
        if file is not None:
            items += [{"role": role, "content": m} if isinstance(m, str) else m for m in read_messages(file)]
            if not items:  # not "give --file" to whoever gave one
                raise FileDataError(f"{file} holds no messages", field="file")
        if not items:
            raise UsageError("nothing to add: give TEXT arguments or --file", field="messages")
        check_messages(items, settings.limits)  # a bad message anywhere: nothing is written
    size = min(batch_size, settings.limits.max_messages_per_add)

    async def work(mem: AsyncMemory) -> BatchedAdd:
        from rich.progress import Progress

        with Progress(console=state.output.err, transient=True, disable=len(items) < 50) as bar:
            task = bar.add_task("adding", total=len(items))
            return await add_in_batches(
                mem, items, size, advance=lambda n: bar.advance(task, n),
                metadata=meta, timestamp=timestamp, mode=mode, **scope,
            )  # fmt: skip

    outcome = run_with_memory(state, work, create=True)
    results = outcome.results
    if outcome.error is not None:  # a later batch failed: the earlier ones are stored
        state.output.error(outcome.error, {**results.to_dict(), "stored": outcome.stored})
        raise typer.Exit(exit_code(outcome.error, state.output.command))
    table = fitting(state.output, lambda compact: add_table(results, compact=compact))
    state.output.emit(results.to_dict(), table, *_add_summary(results))


def _add_summary(results: AddResults) -> list[str]:
    """The counts of each event, what fine mode cost, why it fell back to fast mode, if it did, and
    what it left undone (an answer cut short), if anything."""
    counts = Counter(r.event.value for r in results)
    added, same = counts.pop("ADD", 0), counts.pop("NOOP", 0)
    summary = f"[green]{added} added[/green], [yellow]{same} unchanged (NOOP)[/yellow]"
    summary += "".join(f", {n} {event}" for event, n in sorted(counts.items()))
    llm = results.llm
    if llm is not None:
        tokens = llm.prompt_tokens + llm.completion_tokens
        summary += f"; {results.mode} mode: {counted(llm.calls, 'LLM call', 'LLM calls')}, {tokens} tokens"
    graph = results.relations or {}
    if any(graph.values()):
        added_rel, ended = len(graph.get("added_entities", [])), len(graph.get("deleted_entities", []))
        summary += f"; graph: {counted(added_rel, 'relation', 'relations')} added, {ended} ended"
    lines = [summary]
    if llm is not None and llm.fallback:
        lines.append(f"[yellow]LLM fallback:[/yellow] {escape(printable(llm.fallback))}")
    if llm is not None and llm.incomplete:
        lines.append(f"[yellow]LLM incomplete:[/yellow] {escape(printable(llm.incomplete))}")
    return lines


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(metavar="QUERY", help="What to look for (a question or keywords).")],
    user_id: UserOpt = None,
    agent_id: AgentOpt = None,
    run_id: RunOpt = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", help="Most hits (default: search.default_limit).")
    ] = None,
    filters: FiltersOpt = None,
    threshold: Annotated[
        float | None,
        typer.Option(help="Drop hits whose cosine similarity with the query is under this (-1..1)."),
    ] = None,
    as_of: AsOfOpt = None,
    reference_time: NowOpt = None,
    explain: Annotated[bool, typer.Option(help="Show the dense and BM25 parts of each score.")] = False,
    graph_hops: Annotated[
        int, typer.Option(min=0, max=2, help="1 or 2: also show graph relations around named entities.")
    ] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Hybrid (semantic + keyword) search within a scope, best first."""
    state = CliState.of(ctx, json_out)
    with errors_to_exit(state.output):
        where = parse_json_option(filters, "filters")
    scope = _scope(user_id, agent_id, run_id)
    hits = run_with_memory(
        state,
        lambda mem: mem.search(
            query,
            filters=where,
            limit=limit,
            threshold=threshold,
            as_of=as_of,
            reference_time=reference_time,
            explain=explain,
            graph_hops=graph_hops,
            **scope,
        ),
    )
    body: dict[str, Any] = {"results": [h.to_dict() for h in hits]}
    shown: list[Any] = [
        fitting(state.output, lambda compact: hits_table(hits, explain=explain, compact=compact))
    ]
    if hits.relations is not None:
        body["relations"] = [r.to_dict() for r in hits.relations]
        shown += [
            escape(printable(f"{r.source.name} —{r.relation}→ {r.target.name}")) for r in hits.relations
        ]
    state.output.emit(body, *shown)


@app.command()
def context(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(metavar="QUERY", help="What the next prompt is about.")],
    user_id: Annotated[
        str | None,
        typer.Option(
            "--user-id", "-u", help="Whose memories; leave out for an agent's or session's own (no user)."
        ),
    ] = None,
    agent_id: AgentOpt = None,
    run_id: Annotated[
        str | None, typer.Option("--run-id", "-r", help="The current session: its recent turns are included.")
    ] = None,
    budget: Annotated[
        int | None, typer.Option("--budget", "-b", help="Token budget (default: context.token_budget).")
    ] = None,
    reference_time: NowOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A prompt-ready memory block: profile, preferences, relevant memories, recent turns."""
    state = CliState.of(ctx, json_out)
    built = run_with_memory(
        state,
        lambda mem: mem.context(
            query,
            user_id=user_id,
            agent_id=agent_id,
            run_id=run_id,
            token_budget=budget,
            reference_time=reference_time,
        ),
    )
    summary = f"{built.tokens} of {built.budget} tokens, {counted(len(built.items), 'item', 'items')}"
    if built.dropped:
        summary += f", {built.dropped} left out"
    state.output.emit(built.to_dict(), Text(printable(built.text)), Text(summary, style="dim"))


@app.command()
def tree(
    ctx: typer.Context,
    user_id: Annotated[
        str | None, typer.Option("--user-id", "-u", help="The user; leave out for an agent's own memories.")
    ] = None,
    agent_id: Annotated[
        str | None, typer.Option("--agent-id", "-a", help="The agent, as `memoryd users` lists it.")
    ] = None,
    episodes: Annotated[int, typer.Option(min=0, help="Turns shown per segment and session.")] = 5,
    long_term: Annotated[
        int, typer.Option(min=0, max=10_000, help="Long-term memories shown per kind, newest first.")
    ] = LONG_TERM_SHOWN,
    segments: Annotated[int, typer.Option(min=0, max=10_000, help="Segments shown, hottest first.")] = (
        SEGMENTS_SHOWN
    ),
    json_out: JsonOpt = False,
) -> None:
    """The memory tree of one owner: topics, segments, facts and turns.

    The owner as `memoryd users` (`GET /v1/users`) lists it: `-u USER`, `-u USER -a AGENT`, or
    `-a AGENT` alone for the agent's own memories (of no user). Topics > segments (mid-term, with
    heat) > facts and episodes, the short-term turns of each session, and the long-term memories.
    An owner with nothing stored is an error naming the option. Memories of no user and no agent
    (added with a run id alone) have no tree: `memoryd list --run-id ID` lists them."""
    state = CliState.of(ctx, json_out)
    shown = {"episodes": episodes, "long_term": long_term, "segments": segments}
    doc = run_with_memory(state, lambda mem: mem.tree(user_id, agent_id=agent_id, **shown))
    counts = doc["counts"]
    in_long_term = counted(sum(counts["long_term"].values()), "long-term memory", "long-term memories")
    summary = (
        f"{counted(counts['short_term_turns'], 'short-term turn', 'short-term turns')}, "
        f"{counted(counts['mid_term_turns'], 'mid-term turn', 'mid-term turns')} in "
        f"{counted(counts['segments'], 'segment', 'segments')} ({counts['evicted_segments']} evicted, "
        f"{counts['promoted_segments']} promoted), {in_long_term}"
    )
    left_out = "".join(
        f"\n{o['part']}: {o['shown']} of {o['total']} shown "
        f"(more with {'--long-term' if o['part'].startswith('long_term') else '--segments'})"
        for o in doc["omitted"]
    )
    state.output.emit(doc, _tree_view(doc), Text(summary + left_out, style="dim"))


def _turn_line(turn: dict[str, Any]) -> Text:
    said = f"[{id_tag(turn['id'])}] {turn['role'] or ''}: {printable(turn['text'])}"
    return Text(said, overflow="ellipsis")


def _tree_view(doc: dict[str, Any]) -> RichTree:
    who = " / ".join(x for x in (doc["user_id"] or "(no user)", doc["agent_id"]) if x)
    root = RichTree(Text(f"memory of {who}", style="bold"))
    short = root.add(Text("short-term", style="bold cyan"))
    for session in doc["short_term"]:
        turns = counted(session["turns"], "turn", "turns")
        node = short.add(Text(f"session {session['run_id'] or '(none)'}: {turns}"))
        for e in session["episodes"]:
            node.add(_turn_line(e))
    mid = root.add(Text("mid-term", style="bold yellow"))
    for topic in doc["topics"]:
        label = printable(topic["label"] or "(no label)")
        branch = mid.add(Text(f"{label}  heat {topic['heat']:.2f}", style="bold"))
        for seg in topic["segments"]:
            mark = " promoted" if seg["promoted_at"] else ""
            label = f"[{id_tag(seg['id'])}] {printable(seg['label'])}"
            title = f"{label} · {seg['tier']}{mark} · heat {seg['heat']:.2f} · "
            node = branch.add(Text(title + f"{seg['turns']} turns, {seg['retrievals']} retrievals"))
            for f in seg["facts"]:
                node.add(Text(f"[{id_tag(f['id'])}] {f['kind']}: {printable(f['text'])}", style="green"))
            for e in seg["episodes"]:
                node.add(_turn_line(e))
    long = root.add(Text("long-term", style="bold green"))
    for group, items in doc["long_term"].items():
        if items:
            node = long.add(Text(f"{group} ({len(items)})"))
            for m in items:
                node.add(Text(f"[{id_tag(m['id'])}] {printable(m['text'])}"))
    return root


@app.command()
def users(
    ctx: typer.Context,
    user_id: Annotated[str | None, typer.Option("--user-id", "-u", help="Only this user's rows.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """The known users and agents (as `GET /v1/users`), most memories first.

    One row per owner (a user, a user with one agent, or an agent alone), each what
    `memoryd tree` takes; memories of no user and no agent come last, in one row of sessions
    (`memoryd list --run-id ID` lists them). Reads every memory once."""
    state = CliState.of(ctx, json_out)
    rows = run_with_memory(state, lambda mem: mem.users(user_id=user_id))
    table = Table(title=counted(len(rows), "owner", "owners"), title_justify="left", show_edge=False)
    for name in ("user_id", "agent_id", "memories", "kinds"):
        table.add_column(name, justify="right" if name == "memories" else "left", overflow="fold")
    table.add_column("last added", no_wrap=True)
    for row in rows:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(row["kinds"].items(), key=lambda kv: -kv[1]))
        who = [Text(printable(row[k] or "")) for k in ("user_id", "agent_id")]
        if row["session_only"]:
            shown = ", ".join(row["run_ids"][:3]) + (", …" if row["runs"] > 3 else "")
            runs = counted(row["runs"], "session", "sessions")
            who = [Text(printable(f"(none: {runs}, {shown})"), style="dim"), Text("")]
        added = when(datetime.fromisoformat(row["last_added_at"]))
        table.add_row(*who, str(row["memories"]), kinds, added)
    state.output.emit({"results": rows}, table)


@app.command("list")
def list_(
    ctx: typer.Context,
    user_id: UserOpt = None,
    agent_id: AgentOpt = None,
    run_id: RunOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Page size.")] = 100,
    offset: Annotated[int, typer.Option(help="Skip this many (newest first).")] = 0,
    filters: FiltersOpt = None,
    include_expired: Annotated[bool, typer.Option(help="Also list superseded memories.")] = False,
    as_of: AsOfOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List a scope's memories, newest first, a page at a time."""
    state = CliState.of(ctx, json_out)
    with errors_to_exit(state.output):
        where = parse_json_option(filters, "filters")
    scope = _scope(user_id, agent_id, run_id)
    page = run_with_memory(
        state,
        lambda mem: mem.get_all(
            filters=where, limit=limit, offset=offset, as_of=as_of, include_expired=include_expired, **scope
        ),
    )
    table = fitting(state.output, lambda compact: page_table(page, compact=compact))
    state.output.emit(page.to_dict(), table)


@app.command()
def get(
    ctx: typer.Context,
    memory_id: IdArg,
    user_id: UserOpt = None,
    agent_id: AgentOpt = None,
    run_id: RunOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show one memory (given a scope, only if it belongs to that scope)."""
    state = CliState.of(ctx, json_out)
    scope = _scope(user_id, agent_id, run_id)
    record = run_with_memory(state, lambda mem: mem.get(memory_id, **scope))
    state.output.emit(record.to_dict(), record_table(record))


@app.command()
def update(
    ctx: typer.Context,
    memory_id: IdArg,
    text: Annotated[
        str | None, typer.Argument(metavar="TEXT", help="The new text (leave out to change metadata only).")
    ] = None,
    metadata: Annotated[
        str | None, typer.Option(help="The new metadata object (replaces it; see --merge).", metavar="JSON")
    ] = None,
    merge: Annotated[bool, typer.Option(help="Set the --metadata keys given, keep the others.")] = False,
    user_id: UserOpt = None,
    agent_id: AgentOpt = None,
    run_id: RunOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Change one memory's text and/or metadata; the old text stays in its history."""
    state = CliState.of(ctx, json_out)
    scope = _scope(user_id, agent_id, run_id)
    with errors_to_exit(state.output):
        meta = parse_json_option(metadata, "metadata")
        if text is None and meta is None:
            raise UsageError("give the new TEXT, --metadata, or both", field="text")
    done = run_with_memory(
        state, lambda mem: mem.update(memory_id, text, metadata=meta, merge_metadata=merge, **scope)
    )
    what = "[green]updated[/green]" if done.event.value == "UPDATE" else "[dim]no change to[/dim]"
    also = "".join(f"\n  {r.event.value} {escape(printable(r.text or ''))} ({r.id})" for r in done.derived)
    state.output.emit(done.to_dict(), f"{what} {done.memory.id}: {escape(printable(done.memory.text))}{also}")


@app.command()
def history(
    ctx: typer.Context,
    memory_id: IdArg,
    user_id: UserOpt = None,
    agent_id: AgentOpt = None,
    run_id: RunOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Every recorded change of one memory, oldest first (kept after deletion).

    Given a scope, only if the memory belongs to it."""
    state = CliState.of(ctx, json_out)
    scope = _scope(user_id, agent_id, run_id)
    entries = run_with_memory(state, lambda mem: mem.history(memory_id, **scope))
    state.output.emit({"results": [e.to_dict() for e in entries]}, history_table(entries))


@app.command()
def delete(
    ctx: typer.Context,
    memory_id: Annotated[str | None, typer.Argument(metavar="ID", help="The memory to delete.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Delete every memory of the given scope.")] = False,
    user_id: UserOpt = None,
    agent_id: AgentOpt = None,
    run_id: RunOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before deleting --all.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete one memory by ID, or with --all every memory of a scope (asks first unless --yes)."""
    state = CliState.of(ctx, json_out)
    scope = _scope(user_id, agent_id, run_id)
    with errors_to_exit(state.output):
        if all_ == (memory_id is not None):
            raise UsageError("give either an ID, or --all with --user-id/--agent-id/--run-id", field="id")
        if all_ and not scope:
            raise UsageError("--all needs a scope: --user-id, --agent-id or --run-id", field="user_id")
    if memory_id is not None:
        gone = run_with_memory(state, lambda mem: mem.delete(memory_id, **scope))
        record, derived = gone[0], gone[1:]
        doc = {"deleted": len(gone), "id": record.id, "memory": record.to_dict(),
               "also_deleted": [m.to_dict() for m in derived]}  # fmt: skip
        also = "".join(f"\n  and what only it stated: {escape(printable(m.text))} ({m.id})" for m in derived)
        state.output.emit(doc, f"[red]deleted[/red] {record.id}{also}")
        return
    shown = ", ".join(f"{k}={v!r}" for k, v in scope.items())
    if not yes:
        question = f"Delete every memory of {shown}? This cannot be undone"
        state.output.confirm(question, "nothing deleted")
    count = run_with_memory(state, lambda mem: mem.delete_all(**scope))
    said = f"[red]deleted[/red] {counted(count, 'memory', 'memories')} of {shown}"
    state.output.emit({"deleted": count, "scope": scope}, said)


@app.command()
def doctor(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Check what memoryd needs and say how to fix what is missing.

    Python, config, SQLite, the embedder, the storage backends, the store, the LLM, the
    pipeline, jieba, extras, port.

    Each check says ok, info, warn or fail, and how to fix it. Exits 1 when a check fails.
    """
    from memoryd.cli.doctor import exit_code, run_doctor

    state = CliState.of(ctx, json_out)
    with errors_to_exit(state.output):  # Ctrl-C: "interrupted", and with --json a document, exit 130
        checks = run_doctor(
            state.settings, config_error=state.config_error, config_path=state.config_path, env=state.env
        )
    code = exit_code(checks)
    counts = {s: sum(c.status == s for c in checks) for s in ("ok", "info", "warn", "fail")}
    if code:
        verdict = "[bold red]problems found[/bold red]"
    elif counts["warn"]:
        verdict = "[bold yellow]works, with warnings[/bold yellow]"
    else:
        verdict = "[bold green]all good[/bold green]"
    state.output.emit(
        {"ok": code == 0, "summary": counts, "checks": [c.to_dict() for c in checks]},
        checks_table(checks),
        f"{verdict}: " + ", ".join(f"{n} {s}" for s, n in counts.items()),
    )
    raise typer.Exit(code)


@config_app.command("show")
def config_show(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Print the effective settings as TOML (secrets masked), noting where each value came from."""
    from memoryd.cli.doctor import setting_sources

    state = CliState.of(ctx, json_out)
    settings = state.require_settings()
    data = settings.redacted()
    sources = setting_sources(state.config_path, state.env)
    origin = state.config_path or "none (defaults and MEMORYD_* environment)"
    # Paths a setting left unset stands for: beside the database, so shared by a folder's stores.
    used = {"keys_path": settings.keys_path(), "tenants_dir": settings.tenants_dir()}
    unset = {f"auth.{key}": str(path) for key, path in used.items() if data["auth"][key] is None}
    state.output.emit(
        {"config_file": state.config_path, "settings": data, "sources": sources, "unset": unset},
        Text(f"# config file: {origin}\n", style="dim"),
        config_text(data, sources, unset),
        soft_wrap=True,  # a long path's line wrapped is no TOML
    )


def _mount_bench() -> None:
    """``memoryd bench`` from :mod:`memoryd.cli.bench`, or a stub that says why it is missing."""
    try:
        from memoryd.cli.bench import app as bench_app
    except ImportError as exc:
        reason = str(exc)

        @app.command("bench", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
        def bench_unavailable(ctx: typer.Context) -> None:
            """Benchmarks (unavailable in this install; see the error)."""
            msg = f"the bench commands are unavailable ({reason}); try: pip install 'memoryd[bench]'"
            CliState.of(ctx).output.error(MemorydError(msg))
            raise typer.Exit(1)

        return
    app.add_typer(bench_app, name="bench")


_mount_bench()


def _mount_pipeline() -> None:
    """``memoryd worker`` and ``memoryd dlq``, the async pipeline's commands (:mod:`memoryd.cli.worker`)."""
    from memoryd.cli.dlq import app as dlq_app
    from memoryd.cli.worker import worker

    app.command("worker")(worker)
    app.add_typer(dlq_app, name="dlq")


_mount_pipeline()


def _mount_keys() -> None:
    """``memoryd keys``: API key management (:mod:`memoryd.cli.keys`)."""
    from memoryd.cli.keys import app as keys_app

    app.add_typer(keys_app, name="keys")


_mount_keys()


def _mount_maintenance() -> None:
    """``memoryd check``, ``reindex``, ``export`` and ``import`` (:mod:`memoryd.cli.maintenance`,
    :mod:`memoryd.cli.portability`)."""
    from memoryd.cli.maintenance import check, reindex
    from memoryd.cli.portability import export, import_

    app.command("check")(check)
    app.command("reindex")(reindex)
    app.command("export")(export)
    app.command("import")(import_)


_mount_maintenance()


def _mount_mcp() -> None:
    """``memoryd mcp``, the MCP stdio server (:mod:`memoryd.cli.mcp`)."""
    from memoryd.cli.mcp import mcp

    app.command("mcp")(mcp)


_mount_mcp()
finish_commands(app)  # every command: usage errors of its own one line (exit 2), the exit status in its help


def main() -> None:
    """Console-script entry point. stdout failing (``> /dev/full``, ``>&-``) is one line on stderr
    and exit 1, never a traceback; a reader that goes away (``| head -1``) ends it quietly, exit 1."""
    try:
        app()
        sys.stdout.flush()  # what is buffered fails here, not at the interpreter's exit
    except OSError as exc:
        if not output_lost(exc):
            raise
        raise SystemExit(1) from None
