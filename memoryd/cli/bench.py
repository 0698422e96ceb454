"""``memoryd bench``: benchmarks, as a typer sub-app the main CLI mounts.

``memoryd bench speed`` measures add latency, batch ingest throughput and
search latency at growing store sizes, next to mem0 when it is installed, and
prints a table (optionally a JSON document with every raw figure). It always
exits 0 when the run completes — missed targets are reported, not failures —
and 1 when something breaks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from memoryd.bench.report import RichProgress, print_report, to_json, write_json
from memoryd.bench.speed import SYSTEMS, SpeedConfig, run_speed
from memoryd.config import load_settings
from memoryd.errors import MemorydError
from memoryd.registry import available

__all__ = ["app"]

app = typer.Typer(
    help="Benchmarks: speed (latency and throughput, memoryd next to mem0).",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _bench() -> None:
    """Benchmarks: speed (latency and throughput, memoryd next to mem0)."""


def _ints(value: str, option: str) -> tuple[int, ...]:
    """Parse "1000,10k,1M" into integers."""
    out = []
    for part in (p.strip().lower() for p in value.split(",")):
        if not part:
            continue
        scale = {"k": 1_000, "m": 1_000_000}.get(part[-1], 1)
        digits = part[:-1] if scale > 1 else part
        if not digits.isdigit() or int(digits) * scale < 1:
            raise typer.BadParameter(
                f"expected positive integers like 1000,10k,1M; got {part!r}", param_hint=option
            )
        out.append(int(digits) * scale)
    return tuple(out)


def _overrides(pairs: list[str]) -> dict[str, Any]:
    """Turn ``section.key=value`` pairs into nested settings overrides, and validate them."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2 or not all(parts):
            raise typer.BadParameter(f"expected section.key=value, got {pair!r}", param_hint="--set")
        out.setdefault(parts[0], {})[parts[1]] = value
    try:
        load_settings(env={}, overrides=out)
    except MemorydError as exc:
        raise typer.BadParameter(exc.message, param_hint="--set") from exc
    return out


@app.command()
def speed(
    sizes: Annotated[str, typer.Option(help="Single-user search tiers (memories), e.g. 1k,10k,100k.")] = (
        "1000,10000,100000"
    ),
    multi_user: Annotated[bool, typer.Option("--multi-user", help="Add the USERS × PER_USER tier.")] = False,
    users: Annotated[int, typer.Option(min=1, help="Users in the multi-user tier.")] = 1000,
    per_user: Annotated[int, typer.Option(min=1, help="Memories per user in the multi-user tier.")] = 1000,
    queries: Annotated[int, typer.Option(min=1, help="Distinct measured queries per tier.")] = 200,
    warmup: Annotated[int, typer.Option(min=0, help="Warm-up queries per tier (not measured).")] = 20,
    single_adds: Annotated[int, typer.Option(min=0, help="Single-message adds to time (0 skips).")] = 200,
    batch_size: Annotated[int, typer.Option(min=1, max=1000, help="Messages per batched add.")] = 128,
    batch_messages: Annotated[int, typer.Option(min=0, help="Messages added in batches (0 skips).")] = 1024,
    embedder: Annotated[str, typer.Option(help="Embedder for both systems: use | minilm.")] = "use",
    systems: Annotated[str, typer.Option(help="Systems to measure: memoryd[,mem0].")] = "memoryd,mem0",
    mem0_sizes: Annotated[str, typer.Option(help="Tiers at which mem0 is measured too.")] = "1000,10000",
    pool: Annotated[int, typer.Option(min=1, help="Sentences embedded once to fill tiers.")] = 20000,
    api_load_max: Annotated[int, typer.Option(min=0, help="Tiers up to this size load via add().")] = 10000,
    breakdown: Annotated[int, typer.Option(min=0, help="Queries per tier timed part by part.")] = 50,
    limit: Annotated[int, typer.Option(min=1, help="Results per search.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic corpus.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Write every figure as JSON to this file.")] = None,
    workdir: Annotated[Path | None, typer.Option(help="Where stores are built (default: temp dir).")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the stores built (uses disk).")] = False,
    settings: Annotated[
        list[str] | None, typer.Option("--set", help="Setting override, e.g. storage.synchronous=NORMAL.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")
    ] = False,
) -> None:
    """Latency and throughput: add, batch ingest, and search at growing store sizes."""
    chosen = tuple(s.strip() for s in systems.split(",") if s.strip())
    if "memoryd" not in chosen or set(chosen) - set(SYSTEMS):
        raise typer.BadParameter(
            f"choose among {', '.join(SYSTEMS)} (memoryd required)", param_hint="--systems"
        )
    embedders = [entry.name for entry in available("embedder")]
    if embedder not in embedders:
        raise typer.BadParameter(f"choose one of {', '.join(embedders)}", param_hint="--embedder")
    config = SpeedConfig(
        sizes=_ints(sizes, "--sizes"), multi_user=multi_user, users=users, per_user=per_user,
        queries=queries, warmup=warmup, single_adds=single_adds, batch_size=batch_size,
        batch_messages=batch_messages, embedder=embedder, systems=chosen,
        mem0_sizes=_ints(mem0_sizes, "--mem0-sizes"), pool=pool, api_load_max=api_load_max,
        breakdown=breakdown, limit=limit, seed=seed, workdir=workdir, keep=keep,
        overrides=_overrides(settings or []),
    )  # fmt: skip
    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(width=120)
    try:
        if progress:
            with RichProgress(Console(stderr=True)) as bars:
                result = run_speed(config, bars)
        else:
            result = run_speed(config)
    except (MemorydError, ValueError, OSError) as exc:
        Console(stderr=True).print(f"[red]bench speed failed:[/] {exc}")
        raise typer.Exit(1) from exc
    if out is not None:
        written = write_json(result, out)
    if as_json:
        sys.stdout.write(json.dumps(to_json(result), ensure_ascii=False, indent=2) + "\n")
        return
    print_report(result, console)
    if out is not None:
        console.print(f"JSON written to {written}")
