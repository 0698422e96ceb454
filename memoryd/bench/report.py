"""Showing a speed benchmark: the summary rows, rich tables, progress bars, JSON.

:func:`summary_rows` turns a :class:`SpeedResult` into one row per metric —
memoryd, mem0, how many times better memoryd is, the target and whether it is
met — which both the table (:func:`print_report`) and the JSON document
(:func:`to_json`) carry. :class:`RichProgress` implements the benchmark's
progress hook with rich progress bars.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as _RichProgress
from rich.table import Table

from memoryd.bench.results import BatchResult, SearchTier, SpeedResult

__all__ = ["TARGETS", "RichProgress", "Row", "print_report", "summary_rows", "to_json", "write_json"]

SCHEMA = "memoryd.bench.speed/1"
# Above this share of the machine's CPU used by other processes, the report warns.
BUSY_SHARE = 0.1

# The targets. Search targets are p95 in ms, by memories of one user.
TARGETS: dict[str, Any] = {
    "single_add_median_ms": 6.0,
    "batch_ratio_vs_raw": 0.85,
    "search_p95_ms": {10_000: 8.0, 100_000: 15.0},
    "multi_user_search_p95_ms": 20.0,
    "context_p95_ms": {10_000: 25.0},
}


@dataclass(frozen=True)
class Row:
    """One metric. ``ratio`` is how many times better memoryd is than mem0 (> 1: better)."""

    metric: str
    unit: str
    memoryd: float | None
    mem0: float | None = None
    ratio: float | None = None
    target: str | None = None
    passed: bool | None = None


def _latency_row(metric: str, ours: float, theirs: float | None, limit: float | None = None) -> Row:
    ratio = round(theirs / ours, 2) if theirs is not None and ours > 0 else None
    target = None if limit is None else f"≤ {limit:g} ms"
    return Row(metric, "ms", ours, theirs, ratio, target, None if limit is None else ours <= limit)


def _tier_rows(tier: SearchTier) -> list[Row]:
    where = tier.name
    if tier.users > 1:
        p95_target = TARGETS["multi_user_search_p95_ms"]
    else:
        p95_target = TARGETS["search_p95_ms"].get(tier.memories)
    mem0 = tier.mem0
    rows = [
        _latency_row(f"search p50 @ {where}", tier.memoryd.p50_ms, mem0.p50_ms if mem0 else None),
        _latency_row(f"search p95 @ {where}", tier.memoryd.p95_ms, mem0.p95_ms if mem0 else None, p95_target),
    ]
    if tier.memoryd_cold is not None:
        rows.append(_latency_row(f"search p95 @ {tier.name}, cold", tier.memoryd_cold.p95_ms, None))
    if tier.context is not None:
        target = TARGETS["context_p95_ms"].get(tier.memories)
        rows.append(_latency_row(f"context() p50 @ {where}", tier.context.p50_ms, None))
        rows.append(_latency_row(f"context() p95 @ {where}", tier.context.p95_ms, None, target))
    return rows


def summary_rows(result: SpeedResult) -> list[Row]:
    """Every headline figure, in the order of the table."""
    rows: list[Row] = []
    ours, theirs = result.single_add.get("memoryd"), result.single_add.get("mem0")
    if ours is not None:
        target = TARGETS["single_add_median_ms"]
        rows.append(
            _latency_row("single add, median", ours.p50_ms, theirs.p50_ms if theirs else None, target)
        )
        rows.append(_latency_row("single add, p95", ours.p95_ms, theirs.p95_ms if theirs else None))
        if "embedder_raw" in result.single_add:
            rows.append(Row("raw embedder, one text, median", "ms", result.single_add["embedder_raw"].p50_ms))
    batch = result.batch
    if batch is not None:
        mem0 = batch.mem0.per_s if batch.mem0 else None
        ratio = round(batch.memoryd.per_s / mem0, 2) if mem0 else None
        label = f"batch ingest ({batch.batch_size}/add)"
        rows.append(Row(label, "msg/s", batch.memoryd.per_s, mem0, ratio))
        rows.append(Row("raw embedder, same batches", "msg/s", batch.embedder_raw.per_s))
        goal = TARGETS["batch_ratio_vs_raw"]
        rows.append(
            Row("batch ingest ÷ raw embedder", "", batch.ratio_vs_raw, None, None, f"≥ {goal:g}",
                batch.ratio_vs_raw >= goal)
        )  # fmt: skip
        rows.extend(_batch_cpu_rows(batch))
    for tier in result.search:
        rows.extend(_tier_rows(tier))
    return rows


def _batch_cpu_rows(batch: BatchResult) -> list[Row]:
    """Where a batch's CPU went (:mod:`memoryd.bench.threads`), and the ratio's ceiling: with
    every core busy, an add takes at least its CPU time over the cores the embedder alone uses."""
    cpu, raw = batch.memoryd_cpu_ms, batch.embedder_raw_cpu_ms
    if not cpu or not raw:
        return []
    model, total = cpu.get("model", 0.0), cpu["total"]
    rows = [
        Row("CPU per batch, embedder alone", "ms", raw),
        Row("CPU per batch, add: the model", "ms", model),
        Row("CPU per batch, add: memoryd's own", "ms", round(total - model, 2)),
    ]
    own = [(role, ms) for role, ms in cpu.items() if role not in ("model", "total")]
    rows += [Row(f"  of which {role}", "ms", ms) for role, ms in own]
    rows.append(Row("ratio ceiling (CPU: embedder alone ÷ add)", "", round(raw / total, 3)))
    return rows


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def _pass(value: bool | None) -> str:
    return "" if value is None else ("[green]pass[/]" if value else "[red]FAIL[/]")


def summary_table(result: SpeedResult) -> Table:
    table = Table(title="memoryd bench speed", box=box.SIMPLE_HEAVY, title_justify="left")
    table.caption = (
        "ratio: how many times faster memoryd is than mem0 (same machine, run and embedder); "
        "cold: a user's first query (loads the user's vectors); others after warm-up"
    )
    for name, justify in (("metric", "left"), ("memoryd", "right"), ("mem0", "right"),
                          ("ratio", "right"), ("target", "right"), ("pass", "center")):  # fmt: skip
        table.add_column(name, justify=justify, no_wrap=name == "metric")  # type: ignore[arg-type]
    for row in summary_rows(result):
        ratio = None if row.ratio is None else f"{row.ratio:.2f}×"
        metric = f"{row.metric} ({row.unit})" if row.unit else row.metric
        table.add_row(metric, _fmt(row.memoryd), _fmt(row.mem0), ratio or "—",
                      row.target or "", _pass(row.passed))  # fmt: skip
    return table


def breakdown_table(result: SpeedResult) -> Table | None:
    """Median ms of each search part, timed alone, per tier."""
    tiers = [t for t in result.search if t.breakdown]
    if not tiers:
        return None
    table = Table(title="where search time goes (median ms, each part timed alone)", box=box.SIMPLE)
    table.title_justify = "left"
    for name in (
        "tier",
        "load",
        "embed query",
        "keyword index",
        "vector index",
        "record fetch",
        "search p50",
    ):
        table.add_column(
            name, justify="left" if name in ("tier", "load") else "right", no_wrap=name == "tier"
        )
    for tier in tiers:
        parts = tier.breakdown or {}
        cells = [
            _fmt(parts[k].p50_ms) if k in parts else "—" for k in ("embed", "keyword", "vector", "fetch")
        ]
        load = "add()" if tier.load == "api-add" else "bulk"
        table.add_row(tier.name, load, *cells, _fmt(tier.memoryd.p50_ms))
    return table


def print_report(result: SpeedResult, console: Console | None = None) -> None:
    """Print the summary table, the search breakdown and the run's context."""
    console = console or Console()
    console.print(summary_table(result))
    breakdown = breakdown_table(result)
    if breakdown is not None:
        console.print(breakdown)
    m, e = result.machine, result.embedder
    console.print(
        f"[dim]{m['cpu']} · {m['usable_cores']} cores · {m['memory_gb']} GB · Python {m['python']} · "
        f"numpy {m['numpy']} ({m['blas']}) · SQLite {m['sqlite']} · embedder {e['name']} ({e['dim']}-d) · "
        f"load average at start {m['load_average']} · others' CPU share {m.get('other_cpu_share')}[/]"
    )
    if (m.get("other_cpu_share") or 0) > BUSY_SHARE:
        console.print(f"[yellow]other processes used {m['other_cpu_share']:.0%} of the CPU during the run: "
                      "the figures are skewed; rerun on an idle machine[/]")  # fmt: skip
    for system, state in result.systems.items():
        if state != "measured":
            console.print(f"[yellow]{escape(system)}: {escape(state)}[/]")
    for tier in result.search:
        console.print(f"[dim]tier {tier.name}: {tier.memories:,} memories, loaded by {tier.load} "
                      f"in {tier.load_s:.1f} s[/]")  # fmt: skip
    for note in result.notes:
        console.print(f"[dim]{escape(note)}[/]")


def to_json(result: SpeedResult) -> dict[str, Any]:
    """The whole result as plain data: raw samples, machine, config, and the summary rows."""
    return {"schema": SCHEMA, **result.to_dict(), "summary": [asdict(r) for r in summary_rows(result)]}


def write_json(result: SpeedResult, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(to_json(result), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


class RichProgress:
    """The benchmark's progress hook as rich progress bars; use as a context manager."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._bars = _RichProgress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), console=self.console,
        )  # fmt: skip

    def __enter__(self) -> RichProgress:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.stop()

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        task_id = self._bars.add_task(description, total=total)
        started = time.perf_counter()
        try:
            yield lambda n: self._bars.advance(task_id, n)
        finally:
            self._bars.remove_task(task_id)
        took = time.perf_counter() - started
        self.console.print(f"[green]✓[/] {escape(description)} [dim]({took:.1f} s)[/]")
