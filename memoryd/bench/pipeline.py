"""``memoryd bench pipeline``: how fast the async pipeline takes, processes and delivers adds.

Against a real ``redis-server`` (a throw-away one on a free loopback port unless
``redis_url`` is given, then under a key prefix of its own) and a throw-away store:

1. **Enqueue rate** from one producer process, three ways: :meth:`Pipeline.submit_add`
   awaited one at a time (validation included; bound by one round trip per event),
   the same with ``CONCURRENCY`` calls in flight (a server under load), and
   :meth:`EventQueue.enqueue_many` with many events per round trip (a gateway
   writing back a batch). Target ≥ 5,000/s.
2. **End-to-end throughput** with ``workers`` ``memoryd worker`` processes (started,
   warmed up and idle first): from the first event enqueued to the last one done,
   one message per event from ``users`` users, against the embedder's own batch
   throughput on the same texts (``batch_size`` texts a call; the better of one
   process using every core and ``workers`` processes sharing them, models loaded
   first, best of two runs each). Target ≥ 0.85.
   Other work on the machine skews that ratio, so the report also gives the share of
   the workers' and Redis' CPU time that went into embedding (the embedder's CPU
   time for those texts, measured alone, ÷ theirs): what the ratio would be on an
   otherwise idle machine.
3. **Enqueue → searchable** at a steady ``rate`` for ``duration_s``: every event's
   enqueue → done (its worker committed it; both times from its status record),
   and for every ``sample_every``-th event, enqueue → found by a search from
   another process (as the server would find it). Target p95 ≤ 2 s.

Two cores are shared by the producer, the workers, Redis and the searcher, and
anything else running on the machine: the report gives the load average and
other processes' CPU share next to the figures.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from memoryd.bench.corpus import sentences
from memoryd.bench.results import CpuMeter, Latency, Throughput, machine_info, process_cpu
from memoryd.config import Settings, load_settings
from memoryd.embedders.base import make_embedder
from memoryd.memory import AsyncMemory
from memoryd.pipeline import AddPayload, EventQueue, Pipeline, PipelineEvent, build_queue
from memoryd.pipeline.local_redis import LocalRedis
from memoryd.registry import resolve

__all__ = ["PipelineBenchConfig", "PipelineBenchResult", "report_table", "run_pipeline_bench"]

TARGETS = {"enqueue_per_s": 5000.0, "e2e_ratio": 0.85, "searchable_p95_ms": 2000.0}
CONCURRENCY = 32
Note = Callable[[str], None]


@dataclass
class PipelineBenchConfig:
    enqueue_events: int = 20_000
    e2e_events: int = 2_000
    workers: int = 2
    users: int = 8
    batch_size: int = 256
    rate: float = 100.0
    duration_s: float = 20.0
    sample_every: int = 10
    embedder: str = "use"
    redis_url: str | None = None
    workdir: Path | None = None
    seed: int = 0


@dataclass
class PipelineBenchResult:
    machine: dict[str, Any]
    config: dict[str, Any]
    enqueue_one_by_one: Throughput | None = None
    enqueue_concurrent: Throughput | None = None
    enqueue_pipelined: Throughput | None = None
    embedder_raw: Throughput | None = None
    embedder_layout: str | None = None
    end_to_end: Throughput | None = None
    e2e_ratio: float | None = None
    e2e_cpu_share: float | None = None  # embedding CPU ÷ all CPU of workers and Redis: load-independent
    to_done: Latency | None = None
    to_searchable: Latency | None = None
    steady_offered_per_s: float | None = None
    others_cpu_share: float | None = None
    notes: list[str] = field(default_factory=list)

    def targets(self) -> dict[str, bool | None]:
        ways = (self.enqueue_one_by_one, self.enqueue_concurrent, self.enqueue_pipelined)
        best = max((t.per_s for t in ways if t), default=None)
        return {
            "enqueue_per_s": None if best is None else best >= TARGETS["enqueue_per_s"],
            "e2e_ratio": None if self.e2e_ratio is None else self.e2e_ratio >= TARGETS["e2e_ratio"],
            "searchable_p95_ms": None
            if self.to_searchable is None
            else self.to_searchable.p95_ms <= TARGETS["searchable_p95_ms"],
        }

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        for name in ("to_done", "to_searchable"):
            if body[name]:
                body[name].pop("samples_ms", None)
        body["targets"] = self.targets()
        return body


def run_pipeline_bench(config: PipelineBenchConfig, note: Note = lambda _: None) -> PipelineBenchResult:
    """Run the three measurements (see the module docstring); blocks until done."""
    if min(config.enqueue_events, config.e2e_events, config.workers, config.users, config.batch_size) < 1:
        raise ValueError("events, workers, users and batch size must be positive")
    if config.rate <= 0 or config.duration_s <= 0 or config.sample_every < 1:
        raise ValueError("rate, duration and sample_every must be positive")
    if config.workdir is not None:  # a --workdir that does not exist yet is made, as bench speed does
        config.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="memoryd-bench-pipeline-", dir=config.workdir))
    try:
        return asyncio.run(_Run(config, workdir, note).run())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


class _Run:
    def __init__(self, cfg: PipelineBenchConfig, workdir: Path, note: Note) -> None:
        self.cfg = cfg
        self.workdir = workdir
        self.note = note
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}:"
        self.redis: LocalRedis | None = None
        self.workers: list[subprocess.Popen[bytes]] = []

    def settings(self, prefix: str, **pipeline: Any) -> Settings:
        url = self.cfg.redis_url or (self.redis.url if self.redis else "")
        return load_settings(
            env={},
            overrides={
                "storage": {"path": str(self.workdir / "bench.db"), "synchronous": "NORMAL"},
                "embedder": {"provider": self.cfg.embedder, "batch_size": self.cfg.batch_size},
                "pipeline": {
                    "enabled": True, "redis_url": url, "prefix": prefix, "batch_size": self.cfg.batch_size,
                    "block_ms": 50, **pipeline,
                },
            },
        )  # fmt: skip

    async def run(self) -> PipelineBenchResult:
        if self.cfg.redis_url is None:
            self.redis = LocalRedis(self.workdir / "redis")
            self.redis.start()
        result = PipelineBenchResult(machine=machine_info(), config={**asdict(self.cfg), "workdir": None})
        meter = CpuMeter(children=True)  # workers, Redis, embedders: joined before it is read
        try:
            await self.enqueue_rate(result)
            await self.end_to_end(result)
            await self.steady(result)
        finally:
            self.stop_workers()
            await self.cleanup()
            if self.redis is not None:
                self.redis.stop()
        result.others_cpu_share = meter.others_share()
        return result

    # -- 1. enqueue rate ---------------------------------------------------------
    async def enqueue_rate(self, result: PipelineBenchResult) -> None:
        settings = self.settings(self.prefix + "enqueue:")
        n = self.cfg.enqueue_events
        texts = sentences(n, seed=self.cfg.seed + 1)
        payloads = [AddPayload(t, user_id=f"u{i % self.cfg.users}") for i, t in enumerate(texts)]
        third = max(1, n // 3)
        self.note(
            f"enqueue rate: {third} events one at a time, {third} {CONCURRENCY} at a time, the rest pipelined"
        )
        async with AsyncMemory(settings) as memory:  # validation only: the model is never loaded
            pipeline = Pipeline(settings.pipeline, settings.limits)
            try:
                await pipeline.start()
                start = time.perf_counter()
                for payload in payloads[:third]:
                    await pipeline.submit_add(memory, payload)
                result.enqueue_one_by_one = Throughput.of(third, time.perf_counter() - start)
                concurrent = payloads[third : 2 * third]
                start = time.perf_counter()
                for i in range(0, len(concurrent), CONCURRENCY):
                    await asyncio.gather(
                        *(pipeline.submit_add(memory, p) for p in concurrent[i : i + CONCURRENCY])
                    )
                if concurrent:
                    result.enqueue_concurrent = Throughput.of(len(concurrent), time.perf_counter() - start)
                events = [PipelineEvent(str(uuid.uuid4()), p) for p in payloads[2 * third :]]
                start = time.perf_counter()
                for i in range(0, len(events), 1000):
                    await pipeline.queue.enqueue_many(events[i : i + 1000])
                if events:
                    result.enqueue_pipelined = Throughput.of(len(events), time.perf_counter() - start)
                if pipeline.submissions["bypassed"]:
                    raise RuntimeError("Redis was unreachable during the enqueue benchmark")
            finally:
                await pipeline.close()

    # -- 2. end-to-end throughput --------------------------------------------------
    def start_workers(self, settings: Settings) -> None:
        threads = max(1, _cores() // self.cfg.workers)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")},
            "MEMORYD_STORAGE__PATH": str(settings.storage.path),
            "MEMORYD_STORAGE__SYNCHRONOUS": settings.storage.synchronous,
            "MEMORYD_EMBEDDER__PROVIDER": self.cfg.embedder,
            "MEMORYD_EMBEDDER__THREADS": str(threads),
            "MEMORYD_EMBEDDER__BATCH_SIZE": str(self.cfg.batch_size),
            "MEMORYD_PIPELINE__REDIS_URL": settings.pipeline.redis_url.get_secret_value(),
            "MEMORYD_PIPELINE__PREFIX": settings.pipeline.prefix,
            "MEMORYD_PIPELINE__BLOCK_MS": "50",
            "MEMORYD_ASYNC_PIPELINE": "true",
            "MEMORYD_SERVER__LOG_LEVEL": "warning",
        }
        for i in range(self.cfg.workers):
            command = [sys.executable, "-m", "memoryd", "worker", "--consumer", f"bench-w{i}",
                       "--batch", str(self.cfg.batch_size)]  # fmt: skip
            self.workers.append(
                subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.workers = []

    async def wait_for_workers(self, queue: EventQueue) -> None:
        deadline = time.monotonic() + 120
        while len(await queue.worker_info()) < self.cfg.workers:
            if any(p.poll() is not None for p in self.workers):
                raise RuntimeError(
                    "a benchmark worker exited during start-up (run `memoryd worker` to see why)"
                )
            if time.monotonic() > deadline:
                raise RuntimeError("the benchmark workers did not start within 120 s")
            await asyncio.sleep(0.1)

    async def end_to_end(self, result: PipelineBenchResult) -> None:
        settings = self.settings(self.prefix + "e2e:")
        n = self.cfg.e2e_events
        texts = sentences(n, seed=self.cfg.seed + 2)
        sample = texts[: min(n, 20 * self.cfg.batch_size)]
        cores = _cores()
        embed_cpu_per_text: float | None = None
        layouts = [(1, cores)]
        if self.cfg.workers > 1:
            layouts.append((self.cfg.workers, max(1, cores // self.cfg.workers)))
        for processes, threads in layouts:  # the embedder's capacity: the better layout, best of 2
            self.note(
                f"embedder alone: {len(sample)} texts in batches of {self.cfg.batch_size}, "
                f"{processes} process(es) × {threads} thread(s)"
            )
            runs = [
                _embed_in_processes(self.cfg.embedder, self.cfg.batch_size, sample, processes, threads)
                for _ in range(2)
            ]
            seconds, cpu = min(runs)
            if result.embedder_raw is None or len(sample) / seconds > result.embedder_raw.per_s:
                result.embedder_raw = Throughput.of(len(sample), seconds)
                result.embedder_layout = f"{processes} process(es) × {threads} thread(s)"
            if threads == 1:  # CPU per text, one thread per process as in the workers
                embed_cpu_per_text = min(c for _, c in runs) / len(sample)

        self.note(f"end to end: starting {self.cfg.workers} workers")
        queue = build_queue(settings.pipeline)
        try:
            await queue.ensure_group()
            self.start_workers(settings)
            await self.wait_for_workers(queue)
            self.note(f"end to end: {n} events from {self.cfg.users} users")
            events = [
                PipelineEvent(
                    str(uuid.uuid4()), AddPayload(t, user_id=f"e2e-{i % self.cfg.users}"), source="bench"
                )
                for i, t in enumerate(texts)
            ]
            pids = [p.pid for p in self.workers] + ([self.redis.pid] if self.redis and self.redis.pid else [])
            cpu_before = sum(process_cpu(pid) for pid in pids)
            start = time.perf_counter()
            for i in range(0, n, 500):
                await queue.enqueue_many(events[i : i + 500])
            while (await queue.stats()).counters["processed"] < n:
                if any(p.poll() is not None for p in self.workers):
                    raise RuntimeError("a benchmark worker died")
                await asyncio.sleep(0.02)
            result.end_to_end = Throughput.of(n, time.perf_counter() - start)
            pipeline_cpu = sum(process_cpu(pid) for pid in pids) - cpu_before
            if embed_cpu_per_text is not None and pipeline_cpu > 0:
                result.e2e_cpu_share = round(embed_cpu_per_text * n / pipeline_cpu, 3)
            stats = await queue.stats()
            if stats.dlq_size:
                result.notes.append(f"{stats.dlq_size} events were dead-lettered during the end-to-end run")
        finally:
            self.stop_workers()
            await queue.close()
        if result.end_to_end is not None and result.embedder_raw is not None:
            result.e2e_ratio = round(result.end_to_end.per_s / result.embedder_raw.per_s, 3)

    # -- 3. enqueue -> searchable at a steady rate -----------------------------------
    async def steady(self, result: PipelineBenchResult) -> None:
        settings = self.settings(self.prefix + "steady:")
        total = max(1, int(self.cfg.rate * self.cfg.duration_s))
        texts = sentences(total, seed=self.cfg.seed + 3)
        self.note(f"steady: {total} events at {self.cfg.rate:g}/s with {self.cfg.workers} workers")
        queue = build_queue(settings.pipeline)
        await queue.ensure_group()
        self.start_workers(settings)
        found: list[float] = []
        searches: list[asyncio.Task[None]] = []
        try:
            await self.wait_for_workers(queue)
            async with AsyncMemory(settings) as server:  # the server's view of the store
                await server.warm()
                pipeline = Pipeline(settings.pipeline, settings.limits)
                await pipeline.start()
                ids: list[str] = []
                start = time.perf_counter()
                for i, text in enumerate(texts):
                    await asyncio.sleep(max(0.0, start + i / self.cfg.rate - time.perf_counter()))
                    user = f"steady-{i % self.cfg.users}"
                    sent = time.perf_counter()
                    submission = await pipeline.submit_add(server, AddPayload(text, user_id=user))
                    ids.append(submission.event_id)
                    if i % self.cfg.sample_every == 0:
                        searches.append(asyncio.create_task(_until_found(server, text, user, sent, found)))
                result.steady_offered_per_s = round(total / (time.perf_counter() - start), 1)
                await asyncio.wait_for(asyncio.gather(*searches), timeout=120)
                await pipeline.close()
            done = await self.done_latencies(queue, ids)
            result.to_done = Latency.of(done)
            result.to_searchable = Latency.of(found)
        finally:
            for task in searches:
                task.cancel()
            self.stop_workers()
            await queue.close()

    async def done_latencies(self, queue: EventQueue, ids: list[str]) -> list[float]:
        deadline = time.monotonic() + 120
        out: list[float] = []
        for event_id in ids:
            while True:
                record = await queue.status(event_id)
                if record is not None and record.finished_at and record.created_at:
                    created = datetime.fromisoformat(record.created_at)
                    out.append((datetime.fromisoformat(record.finished_at) - created).total_seconds())
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"event {event_id} was not processed within 120 s")
                await asyncio.sleep(0.05)
        return out

    async def cleanup(self) -> None:
        """On a Redis of the user's, delete every key this run made (best effort: a Redis that is
        down must not hide why the run stopped)."""
        if self.cfg.redis_url is None:
            return
        queue = build_queue(self.settings(self.prefix).pipeline)
        try:
            client = queue.client  # type: ignore[attr-defined]
            async for key in client.scan_iter(match=f"{self.prefix}*", count=1000):
                await client.delete(key)
        except Exception as exc:  # noqa: BLE001 - the driver's own errors, reported as a note
            self.note(f"could not delete this run's keys ({self.prefix}*): {type(exc).__name__}: {exc}")
        finally:
            await queue.close()


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _embed_in_processes(
    provider: str, batch: int, texts: list[str], processes: int, threads: int
) -> tuple[float, float]:
    """Wall seconds for ``processes`` processes (``threads`` each, models loaded and warm first) to
    embed ``texts`` between them in batches of ``batch``, and the CPU seconds they used doing it."""
    ctx = multiprocessing.get_context("spawn")
    ready, done = ctx.Queue(), ctx.Queue()
    go = ctx.Event()
    children = [
        ctx.Process(
            target=_embed_child, args=(provider, threads, batch, texts[i::processes], ready, go, done)
        )
        for i in range(processes)
    ]
    for child in children:
        child.start()
    try:
        for _ in children:
            ready.get(timeout=300)
        start = time.time()
        go.set()
        reports = [done.get(timeout=600) for _ in children]
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()
    return max(end for end, _ in reports) - start, sum(cpu for _, cpu in reports)


def _embed_child(
    provider: str, threads: int, batch: int, texts: list[str], ready: Any, go: Any, done: Any
) -> None:
    settings = load_settings(env={}, overrides={"embedder": {"provider": provider, "threads": threads}})
    embedder = make_embedder(resolve("embedder", provider), settings.embedder)
    embedder.embed(texts[:batch])  # load and warm up
    ready.put(True)
    go.wait()
    cpu = time.process_time()
    for i in range(0, len(texts), batch):
        embedder.embed(texts[i : i + batch])
    done.put((time.time(), time.process_time() - cpu))


async def _until_found(memory: AsyncMemory, text: str, user: str, sent: float, found: list[float]) -> None:
    """Search for ``text`` as its user until it is the top hit; record how long it took."""
    while True:
        hits = await memory.search(text, user_id=user, limit=1)
        if hits and hits[0].memory.text == text:
            found.append(time.perf_counter() - sent)
            return
        await asyncio.sleep(0.05)


def report_table(result: PipelineBenchResult) -> Table:
    """The figures next to their targets."""
    table = Table("measure", "figure", "target", "met", title="memoryd bench pipeline")
    met = result.targets()  # enqueue: met when one of the three ways meets it

    def mark(value: bool | None) -> str:
        return "" if value is None else "[green]yes[/green]" if value else "[red]no[/red]"

    def rate(t: Throughput | None, unit: str) -> str:
        return "—" if t is None else f"{t.per_s:,.0f} {unit}/s ({t.messages:,} in {t.seconds:.2f} s)"

    def latency(lat: Latency | None) -> str:
        return "—" if lat is None else f"p50 {lat.p50_ms:,.0f} ms, p95 {lat.p95_ms:,.0f} ms (n={lat.n})"

    workers = result.config.get("workers")
    ways = [
        ("one at a time", result.enqueue_one_by_one),
        (f"{CONCURRENCY} in flight", result.enqueue_concurrent),
        ("pipelined", result.enqueue_pipelined),
    ]
    for how, figure in ways:
        ok = None if figure is None else figure.per_s >= TARGETS["enqueue_per_s"]
        table.add_row(f"enqueue, one producer, {how}", rate(figure, "events"), "≥ 5,000/s", mark(ok))
    layout = f", {result.embedder_layout}" if result.embedder_layout else ""
    table.add_row(f"embedder alone, batched{layout}", rate(result.embedder_raw, "texts"), "", "")
    table.add_row(f"end to end, {workers} workers", rate(result.end_to_end, "events"), "", "")
    ratio = "—" if result.e2e_ratio is None else f"{result.e2e_ratio:.2f}"
    table.add_row("end to end ÷ embedder alone", ratio, "≥ 0.85", mark(met["e2e_ratio"]))
    share = "—" if result.e2e_cpu_share is None else f"{result.e2e_cpu_share:.2f}"
    table.add_row("share of workers' and Redis' CPU spent embedding", share, "", "")
    offered = result.steady_offered_per_s
    table.add_row(f"enqueue → committed, at {offered or '—'} events/s", latency(result.to_done), "", "")
    table.add_row("enqueue → found by search (sample)", latency(result.to_searchable), "p95 ≤ 2,000 ms",
                  mark(met["searchable_p95_ms"]))  # fmt: skip
    load = result.machine.get("load_average")
    table.caption = (
        f"{result.machine.get('cores')} cores; load average {load}; other processes used "
        f"{result.others_cpu_share if result.others_cpu_share is not None else '?'} of the CPU during the run"
    )
    return table
