"""``memoryd bench load``: many clients at once against a real server, for a bounded time.

A throw-away store is served by a real ``memoryd serve`` process (uvicorn) on a
free loopback port, then filled with ``prefill`` memories for each of ``users``
users (not measured) and warmed up (each user searched once). Then ``clients``
concurrent HTTP clients (asyncio, one keep-alive connection each) send a mix of
adds (1-3 turns of a session), searches and context requests for ``duration_s``
seconds. Reported:

- throughput (requests/s, overall and per operation) and latency p50/p95/p99 per
  operation (request sent → response read, on the client);
- errors: any non-2xx answer or failed request (there must be none);
- the server process's resident memory (RSS, from ``/proc``) sampled every
  ``sample_s``: start, end, peak, and the growth rate (least squares, MiB/min) over
  the first and the last third of the run. It "levels off" when the last third grows
  by at most 2 MiB/min or half the first third's rate. Adds keep bringing new data
  (a vector and terms in the loaded index partitions, rows in SQLite's page cache of
  up to 64 MiB per connection), so the report also gives the heap's (``RssAnon``)
  growth per memory added in the first and last thirds: a leak shows as growth that
  does not shrink as caches warm.

The load generator shares the machine with the server; its CPU share is reported.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.table import Table

from memoryd.bench.corpus import queries, sentences
from memoryd.bench.results import CpuMeter, machine_info

__all__ = [
    "LoadBenchConfig",
    "LoadBenchResult",
    "OpStats",
    "report_table",
    "rss_mib",
    "run_load_bench",
    "slope",
    "summary_text",
]

OPS = ("add", "search", "context")


@dataclass
class LoadBenchConfig:
    clients: int = 16
    duration_s: float = 30.0
    users: int = 20
    prefill: int = 200  # memories per user before the run
    mix: tuple[float, float, float] = (0.3, 0.5, 0.2)  # add, search, context
    sample_s: float = 0.5
    embedder: str = "use"
    workdir: Path | None = None
    seed: int = 0


@dataclass
class OpStats:
    """One operation's figures (milliseconds, requests per second)."""

    requests: int
    errors: int
    per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: list[float], errors: int, duration: float) -> OpStats:
        if not seconds:
            return cls(0, errors, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        ms = np.asarray(seconds) * 1000
        p50, p95, p99 = (round(float(x), 2) for x in np.percentile(ms, [50, 95, 99]))
        return cls(len(ms), errors, round(len(ms) / duration, 1), p50, p95, p99,
                   round(float(ms.mean()), 2), round(float(ms.max()), 2))  # fmt: skip


@dataclass
class LoadBenchResult:
    machine: dict[str, Any]
    config: dict[str, Any]
    duration_s: float = 0.0
    requests: int = 0
    per_s: float = 0.0
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    ops: dict[str, OpStats] = field(default_factory=dict)
    memories_before: int = 0
    memories_added: int = 0
    rss_mib: list[tuple[float, float]] = field(default_factory=list)  # (seconds into the run, MiB)
    heap_mib: list[tuple[float, float]] = field(default_factory=list)  # RssAnon: without mapped files
    rss_start_mib: float = 0.0
    rss_end_mib: float = 0.0
    rss_peak_mib: float = 0.0
    slope_first_mib_per_min: float = 0.0
    slope_last_mib_per_min: float = 0.0
    kib_per_memory_added: float | None = None
    heap_kib_per_memory_first: float | None = None  # heap growth ÷ memories added, first third
    heap_kib_per_memory_last: float | None = None  # the same, last third
    levels_off: bool = False
    others_cpu_share: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rss_mib(pid: int, field: str = "VmRSS") -> float | None:
    """Resident memory of process ``pid`` in MiB (Linux ``/proc``), None if unreadable. ``field``:
    ``VmRSS`` (all), ``RssAnon`` (the heap: what a leak grows) or ``RssFile`` (mapped files: the
    database pages SQLite maps, libraries)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) points, in MiB per minute (0 for fewer than 2)."""
    if len(points) < 2:
        return 0.0
    t = np.asarray([p[0] for p in points]) / 60
    y = np.asarray([p[1] for p in points])
    if float(np.ptp(t)) == 0:
        return 0.0
    return round(float(np.polyfit(t, y, 1)[0]), 2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """``memoryd serve`` over a throw-away store, in its own process."""

    def __init__(self, workdir: Path, embedder: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}  # no LLM, no pipeline
        env.update(
            MEMORYD_STORAGE__PATH=str(workdir / "load.db"),
            MEMORYD_EMBEDDER__PROVIDER=embedder,
            MEMORYD_SERVER__LOG_LEVEL="warning",
        )
        self.log = (workdir / "server.log").open("w")
        cmd = [sys.executable, "-m", "memoryd", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    async def ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:
            while True:
                if self.proc.poll() is not None:
                    code = self.proc.returncode
                    raise RuntimeError(f"memoryd serve exited with {code}; see {self.log.name}")
                try:
                    if (await client.get("/health/ready")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"memoryd serve was not ready within {timeout:.0f} s")
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


class _Load:
    """The clients' shared state: what to send, what came back."""

    def __init__(self, config: LoadBenchConfig, texts: list[str], asks: list[str]) -> None:
        self.config = config
        self.texts = texts
        self.asks = asks
        self.latency: dict[str, list[float]] = {op: [] for op in OPS}
        self.errors: dict[str, int] = dict.fromkeys(OPS, 0)
        self.examples: list[str] = []
        self.added = 0
        self.added_at: list[tuple[float, int]] = []  # (monotonic time, memories the add stored)
        self.next_text = 0

    def request(self, op: str, rng: random.Random, client_no: int) -> tuple[str, dict[str, Any]]:
        user = f"user{rng.randrange(self.config.users)}"
        session = f"c{client_no}-{user}"
        if op == "add":
            n = rng.randint(1, 3)
            start = self.next_text
            self.next_text += n
            turns = [
                {"role": ("user", "assistant")[k % 2], "content": self.texts[(start + k) % len(self.texts)]}
                for k in range(n)
            ]
            return "/v1/memories", {"messages": turns, "user_id": user, "run_id": session}
        query = rng.choice(self.asks)
        if op == "search":
            return "/v1/memories/search", {"query": query, "user_id": user, "limit": 10}
        return "/v1/context", {"query": query, "user_id": user, "run_id": session}

    async def client(self, url: str, client_no: int, until: float) -> None:
        rng = random.Random(f"{self.config.seed}-{client_no}")
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while time.monotonic() < until:
                op = rng.choices(OPS, weights=self.config.mix)[0]
                path, body = self.request(op, rng, client_no)
                started = time.perf_counter()
                try:
                    r = await http.post(path, json=body)
                    ok = r.status_code < 300
                    detail = f"{op}: HTTP {r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, detail = False, f"{op}: {type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - started
                if not ok:
                    self.errors[op] += 1
                    if len(self.examples) < 5:
                        self.examples.append(detail)
                    continue
                self.latency[op].append(elapsed)
                if op == "add":
                    stored = sum(1 for x in r.json()["results"] if x["event"] == "ADD")
                    self.added += stored
                    self.added_at.append((time.monotonic(), stored))


async def _prefill(url: str, config: LoadBenchConfig, texts: list[str]) -> int:
    added = 0
    async with httpx.AsyncClient(base_url=url, timeout=300) as http:
        for u in range(config.users):
            mine = texts[u * config.prefill : (u + 1) * config.prefill]
            for start in range(0, len(mine), 100):
                turns = [{"role": "user", "content": t} for t in mine[start : start + 100]]
                body = {"messages": turns, "user_id": f"user{u}", "run_id": f"prefill-{u}-{start // 20}"}
                r = await http.post("/v1/memories", json=body)
                r.raise_for_status()
                added += sum(1 for x in r.json()["results"] if x["event"] == "ADD")
        for u in range(config.users):  # warm up: each user's partitions loaded once
            r = await http.post("/v1/memories/search", json={"query": "warm up", "user_id": f"user{u}"})
            r.raise_for_status()
    return added


async def _run(config: LoadBenchConfig, workdir: Path, note: Callable[[str], None]) -> LoadBenchResult:
    result = LoadBenchResult(machine_info(), asdict(config) | {"workdir": str(workdir)})
    pool = config.users * config.prefill
    texts = sentences(pool + 200_000, seed=config.seed)
    asks = queries(2000, seed=config.seed)
    server = _Server(workdir, config.embedder)
    try:
        note(f"starting memoryd serve on port {server.port}")
        await server.ready()
        note(f"prefilling {config.users} users x {config.prefill} memories")
        result.memories_before = await _prefill(server.url, config, texts)
        load = _Load(config, texts[pool:], asks)
        note(f"{config.clients} clients for {config.duration_s:.0f} s")
        meter = CpuMeter(pids=[server.proc.pid])  # the server under test is not "others"
        started = time.monotonic()
        until = started + config.duration_s

        async def sample() -> None:
            while time.monotonic() < until:
                value, heap = rss_mib(server.proc.pid), rss_mib(server.proc.pid, "RssAnon")
                at = round(time.monotonic() - started, 2)
                if value is not None:
                    result.rss_mib.append((at, round(value, 1)))
                if heap is not None:
                    result.heap_mib.append((at, round(heap, 1)))
                await asyncio.sleep(config.sample_s)

        await asyncio.gather(sample(), *(load.client(server.url, n, until) for n in range(config.clients)))
        result.duration_s = round(time.monotonic() - started, 2)
        result.others_cpu_share = meter.others_share()
    finally:
        server.stop()
    for op in OPS:
        result.ops[op] = OpStats.of(load.latency[op], load.errors[op], result.duration_s)
    result.requests = sum(s.requests for s in result.ops.values())
    result.per_s = round(result.requests / result.duration_s, 1)
    result.errors = sum(load.errors.values())
    result.error_examples = load.examples
    result.memories_added = load.added
    _memory_figures(result, [(t - started, n) for t, n in load.added_at])
    return result


def _memory_figures(result: LoadBenchResult, added_at: list[tuple[float, int]]) -> None:
    points = result.rss_mib
    if not points:
        result.notes.append("RSS could not be read (/proc): no memory figures")
        return
    third = max(2, len(points) // 3)
    result.rss_start_mib, result.rss_end_mib = points[0][1], points[-1][1]
    result.rss_peak_mib = max(p[1] for p in points)
    result.slope_first_mib_per_min = slope(points[:third])
    result.slope_last_mib_per_min = slope(points[-third:])
    if result.memories_added:
        growth = (result.rss_end_mib - result.rss_start_mib) * 1024
        result.kib_per_memory_added = round(growth / result.memories_added, 2)
    heap = result.heap_mib
    if len(heap) >= 6:
        cut = len(heap) // 3
        for name, window in (("first", heap[: cut + 1]), ("last", heap[-cut - 1 :])):
            start, end = window[0][0], window[-1][0]
            stored = sum(n for t, n in added_at if start <= t < end)
            if stored:
                value = round((window[-1][1] - window[0][1]) * 1024 / stored, 2)
                setattr(result, f"heap_kib_per_memory_{name}", value)
    first, last = result.slope_first_mib_per_min, result.slope_last_mib_per_min
    result.levels_off = last <= 2.0 or last <= 0.5 * max(first, 0.0)


def run_load_bench(
    config: LoadBenchConfig, note: Callable[[str], None] = lambda text: None
) -> LoadBenchResult:
    """Run the load benchmark (see the module docstring) and return its figures."""
    own = config.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="memoryd-load-")) if config.workdir is None else config.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(_run(config, workdir, note))
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)


def report_table(result: LoadBenchResult) -> Table:
    title = f"memoryd bench load: {result.config['clients']} clients, {result.duration_s:.0f} s"
    columns = ("operation", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors")
    table = Table(*columns, title=title)
    for op, s in result.ops.items():
        table.add_row(op, str(s.requests), f"{s.per_s:.1f}", f"{s.p50_ms:.1f}", f"{s.p95_ms:.1f}",
                      f"{s.p99_ms:.1f}", f"{s.max_ms:.1f}", str(s.errors))  # fmt: skip
    table.add_row("all", str(result.requests), f"{result.per_s:.1f}", "", "", "", "", str(result.errors),
                  style="bold")  # fmt: skip
    return table


def summary_text(result: LoadBenchResult) -> str:
    """The memory line under the table (rich markup)."""
    verdict = "levels off" if result.levels_off else "[bold red]keeps growing[/bold red]"
    each = f" ({result.kib_per_memory_added:.1f} KiB each)" if result.kib_per_memory_added is not None else ""
    heap = ""
    if result.heap_kib_per_memory_first is not None and result.heap_kib_per_memory_last is not None:
        heap = (
            f"; heap growth per memory added {result.heap_kib_per_memory_first:.1f} KiB in the first third, "
            f"{result.heap_kib_per_memory_last:.1f} KiB in the last"
        )
    return (
        f"server RSS {result.rss_start_mib:.0f} → {result.rss_end_mib:.0f} MiB "
        f"(peak {result.rss_peak_mib:.0f}); growth {result.slope_first_mib_per_min:+.1f} MiB/min in the "
        f"first third, {result.slope_last_mib_per_min:+.1f} MiB/min in the last: {verdict}; "
        f"{result.memories_added} memories added{each}{heap}"
    )
