"""``memoryd bench speed``: latency and throughput of memoryd, next to mem0.

One process, one machine, one embedder instance shared by both systems:

* **single add** — median/p95 of ``await AsyncMemory.add(text)`` on a fresh store
  (mem0: ``Memory.add(text, infer=False)``);
* **batch ingest** — messages/s of ``add`` with lists of ``batch_size`` messages
  against ``embedder.embed`` on the very same batches, timed alternately;
* **search** — p50/p95 of ``AsyncMemory.search`` (query embedding included) over
  distinct queries after warm-up: one user with N memories, and optionally one
  user among ``users × per_user`` (warm partitions, and each user's cold first
  query). How each tier was loaded is recorded (see :data:`bulk.LOAD_NOTE`), and
  a breakdown times each part of a search alone (embedding, keyword index, vectors, fetch);
* **context** — p50/p95 of ``AsyncMemory.context`` (default token budget) over the same
  queries, at each single-user tier.

:func:`run_speed` returns a :class:`SpeedResult`; :mod:`memoryd.bench.report` renders it.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from memoryd.bench import corpus
from memoryd.bench.bulk import LOAD_NOTE, PooledEmbedder, bulk_load
from memoryd.bench.mem0_baseline import Mem0Baseline, mem0_available
from memoryd.bench.results import (
    BatchResult,
    CpuMeter,
    Latency,
    NoProgress,
    Progress,
    SearchTier,
    SpeedResult,
    Throughput,
    machine_info,
    tier_name,
)
from memoryd.bench.threads import ThreadCpu, shared_cpu_ms
from memoryd.bench.timing import BLOCK, Call, bind, timed
from memoryd.config import Settings, load_settings
from memoryd.embedders import Embedder
from memoryd.memory import AsyncMemory
from memoryd.models import Scope
from memoryd.registry import resolve
from memoryd.storage import build_storage
from memoryd.storage.outside import OutsideIndex
from memoryd.text import tokenize

__all__ = ["SYSTEMS", "SpeedConfig", "run_speed", "run_speed_async"]

SYSTEMS = ("memoryd", "mem0")
_USER = "bench-user"


@dataclass(frozen=True)
class SpeedConfig:
    """What to measure. Zero ``single_adds``/``batch_messages`` skips that part."""

    sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    multi_user: bool = False
    users: int = 1_000
    per_user: int = 1_000
    queries: int = 200
    warmup: int = 20
    single_adds: int = 200
    batch_size: int = 128
    batch_messages: int = 1_024
    embedder: str = "use"
    systems: tuple[str, ...] = SYSTEMS
    mem0_sizes: tuple[int, ...] = (1_000, 10_000)
    pool: int = 20_000
    api_load_max: int = 10_000
    breakdown: int = 50
    context: bool = True
    limit: int = 10
    seed: int = 0
    workdir: Path | None = None
    keep: bool = False
    overrides: Mapping[str, Any] = field(default_factory=dict)


def run_speed(config: SpeedConfig, progress: Progress | None = None) -> SpeedResult:
    """Run the benchmark (blocking) and return every figure."""
    return asyncio.run(run_speed_async(config, progress))


class _Run:
    """State shared by the steps of one benchmark run."""

    def __init__(self, cfg: SpeedConfig, progress: Progress, workdir: Path) -> None:
        self.cfg = cfg
        self.progress = progress
        self.workdir = workdir
        self.run_id = uuid.uuid4().hex[:8]  # names this run's collections or tables on a shared server
        self.embedder: Embedder = _make_embedder(cfg)
        self.mem0 = "mem0" in cfg.systems and mem0_available()
        tiers = [*cfg.sizes, *([cfg.per_user] if cfg.multi_user else [])]
        self.pool_size = min(cfg.pool, max(tiers, default=0))
        extra = cfg.single_adds + cfg.batch_messages + cfg.batch_size + 10
        texts = corpus.sentences(self.pool_size + extra, cfg.seed)
        self.pool_texts = texts[: self.pool_size]
        rest = texts[self.pool_size :]
        self.single_texts, rest = rest[: cfg.single_adds], rest[cfg.single_adds :]
        self.batch_texts, rest = rest[: cfg.batch_messages], rest[cfg.batch_messages :]
        self.warm_texts = rest
        # context() is timed on questions of its own: memoryd keeps the vectors of texts it embedded
        # a moment ago, and the searches' questions would reach it already embedded.
        qs = corpus.queries(2 * (cfg.warmup + cfg.queries), cfg.seed)
        self.warm_queries, self.queries = qs[: cfg.warmup], qs[cfg.warmup : cfg.warmup + cfg.queries]
        rest = qs[cfg.warmup + cfg.queries :]
        self.context_warm, self.context_queries = rest[: cfg.warmup], rest[cfg.warmup :]
        self.pool_vectors = np.zeros((0, self.embedder.dim), dtype=np.float32)

    def settings(self, name: str) -> Settings:
        """The settings of the store ``name``: its own file, and its own collection or table when
        the vector index is in a server several stores share (``--set storage.vectors=postgres``)."""
        storage = dict(self.cfg.overrides.get("storage", {}))
        storage["path"] = str(self.workdir / name / "memoryd.db")
        own = f"memoryd_bench_{self.run_id}_{name.replace('-', '_')}"  # this run's: never a kept one's
        for engine, key in (("qdrant", "collection"), ("milvus", "collection"), ("postgres", "table")):
            storage[engine] = {**storage.get(engine, {}), key: own}
        return load_settings(env={}, overrides={**self.cfg.overrides, "storage": storage})

    async def open(self, name: str, embedder: Embedder | None = None) -> AsyncMemory:
        return await AsyncMemory(self.settings(name), embedder=embedder or self.embedder).open()

    async def discard(self, *names: str) -> None:
        """Remove the stores built (unless ``--keep``): their files, and a server's collections."""
        for name in names if not self.cfg.keep else ():
            if (self.workdir / name / "memoryd.db").exists():
                storage = build_storage(self.settings(name))
                try:
                    if isinstance(storage.vectors, OutsideIndex):
                        await storage.vectors.drop()
                finally:
                    await storage.close()
            shutil.rmtree(self.workdir / name, ignore_errors=True)

    def mem0_store(self, name: str, embed: Callable[[list[str]], np.ndarray]) -> Mem0Baseline:
        return Mem0Baseline(embed, self.embedder.dim, self.workdir / name)

    async def timed(
        self,
        label: str,
        items: Sequence[Any],
        calls: Mapping[str, Call],
        switch: Mapping[str, Call] | None = None,
        block: int = BLOCK,
    ) -> dict[str, list[float]]:
        return await timed(self.progress, label, items, calls, switch, block)

    def _who(self, calls: Mapping[str, Call]) -> str:
        return "memoryd" if len(calls) == 1 else f"{', '.join(calls)} interleaved"

    # -- writing ----------------------------------------------------------
    async def single_add(self, result: SpeedResult) -> None:
        mem = await self.open("single-add")
        base = self.mem0_store("mem0-single-add", self.embedder.embed) if self.mem0 else None

        def calls(user: str, fresh: Iterator[str] | None = None) -> dict[str, Call]:
            def text(item: str) -> str:
                return item if fresh is None else next(fresh)

            out: dict[str, Call] = {
                "embedder_raw": lambda t, _: self.embedder.embed([text(t)]),  # the floor under any add
                "memoryd": lambda t, _: mem.add(text(t), user_id=user),
            }
            if base is not None:
                out["mem0"] = lambda t, _: base.add(text(t), user_id=user)
            return out

        try:
            await self.timed("single adds: warm-up", self.warm_texts[:5], calls("bench-warmup"))
            label = f"single adds ({self._who(calls(_USER))})"
            switch = calls("bench-warmup", itertools.cycle(self.warm_texts[5:]))
            times = await self.timed(label, self.single_texts, calls(_USER), switch)
        finally:
            await mem.close()
            if base is not None:
                base.close()
            await self.discard("single-add", "mem0-single-add")
        result.single_add = {name: Latency.of(times[name]) for name in sorted(times)}

    async def batch(self, result: SpeedResult) -> None:
        size, texts = self.cfg.batch_size, self.batch_texts
        batches = [texts[i : i + size] for i in range(0, len(texts), size)]
        mem = await self.open("batch")
        base = self.mem0_store("mem0-batch", self.embedder.embed) if self.mem0 else None

        def calls(user: str) -> dict[str, Call]:
            out: dict[str, Call] = {
                "embedder_raw": lambda chunk, _: self.embedder.embed(chunk),
                "memoryd": lambda chunk, _: mem.add(chunk, user_id=user),
            }
            if base is not None:  # mem0 has no batch add for raw memories: one by one
                out["mem0"] = lambda chunk, _: base.add_many([(t, {}) for t in chunk], user_id=user)
            return out

        def counted(cpu: ThreadCpu, raw_cpu: list[float]) -> dict[str, Call]:
            """The measured calls, with the CPU each side spends (a few thread-clock reads)."""
            out = calls(_USER)
            embed, add = out["embedder_raw"], out["memoryd"]
            out["embedder_raw"] = lambda chunk, i: shared_cpu_ms(lambda: embed(chunk, i), raw_cpu)
            out["memoryd"] = lambda chunk, i: cpu.count(lambda: add(chunk, i))
            return out

        try:
            await self.timed("batch ingest: warm-up", [self.warm_texts[:size]], calls("bench-warmup"))
            label = f"batches of {size} ({self._who(calls(_USER))})"
            cpu, raw_cpu = ThreadCpu(), list[float]()
            times = await self.timed(label, batches, counted(cpu, raw_cpu), block=1)
            memoryd_cpu = cpu.per_call_ms()
        finally:
            await mem.close()
            if base is not None:
                base.close()
            await self.discard("batch", "mem0-batch")
        raw, ours = (Throughput.of(len(texts), sum(times[k])) for k in ("embedder_raw", "memoryd"))
        result.batch = BatchResult(size, raw, ours, round(ours.per_s / raw.per_s, 4))
        result.batch.memoryd_cpu_ms = memoryd_cpu
        if raw_cpu:
            result.batch.embedder_raw_cpu_ms = round(sum(raw_cpu) / len(raw_cpu), 2)
        if "mem0" in times:
            result.batch.mem0 = Throughput.of(len(texts), sum(times["mem0"]))

    def embed_pool(self) -> float:
        parts = []
        start = time.perf_counter()
        with self.progress.task(f"embedding a pool of {self.pool_size} sentences", self.pool_size) as advance:
            for i in range(0, self.pool_size, 512):
                chunk = self.pool_texts[i : i + 512]
                parts.append(self.embedder.embed(chunk))
                advance(len(chunk))
        if parts:
            self.pool_vectors = np.vstack(parts)
        return time.perf_counter() - start

    # -- search -----------------------------------------------------------
    async def searches(self, mem: AsyncMemory, queries: Sequence[str], users: Sequence[str]) -> list[float]:
        def call(query: str, i: int) -> Any:
            return mem.search(query, user_id=users[i % len(users)], limit=self.cfg.limit)

        return (await self.timed(f"memoryd: {len(queries)} searches", queries, {"memoryd": call}))["memoryd"]

    async def breakdown(self, mem: AsyncMemory, user: str) -> dict[str, Latency] | None:
        """Each part of a search timed alone, called as :class:`HybridSearcher` calls it."""
        queries = self.queries[: self.cfg.breakdown]
        if not queries:
            return None
        scope, limit = Scope(user_id=user), self.cfg.limit
        pool = max(mem.settings.search.candidates, limit)
        parts: dict[str, list[float]] = {"embed": [], "keyword": [], "vector": [], "fetch": []}
        storage = mem.storage
        for query in queries:
            t0 = time.perf_counter()
            vector = self.embedder.embed([query])[0]
            t1 = time.perf_counter()
            keyword = await storage.keywords.search(tokenize(query), scope=scope, limit=pool)
            t2 = time.perf_counter()
            dense = await storage.vectors.search(vector, scope=scope, limit=pool)
            t3 = time.perf_counter()
            head = list(dict.fromkeys(i for i, _ in [*dense[: limit * 2], *keyword[: limit * 2]]))
            await storage.records.get_many(head[: max(limit * 3, limit + 10)])
            t4 = time.perf_counter()
            for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                parts[key].append(dt)
        return {key: Latency.of(values) for key, values in parts.items()}

    async def bulk(self, mem: AsyncMemory, users: list[str], per_user: int, label: str) -> None:
        with self.progress.task(f"{label}: bulk loading via Storage.commit", len(users) * per_user) as adv:
            pool = (self.pool_texts, self.pool_vectors)
            await bulk_load(mem.storage, *pool, users, per_user, seed=self.cfg.seed, advance=adv)

    async def tier(self, size: int) -> SearchTier:
        name, label = f"tier-{size}", tier_name(size)
        api = size <= min(self.cfg.api_load_max, self.pool_size)
        start = time.perf_counter()
        if api:
            texts = self.pool_texts[:size]
            mem = await self.open(name, PooledEmbedder(self.embedder, texts, self.pool_vectors[:size]))
            try:
                chunks = [texts[i : i + 250] for i in range(0, size, 250)]
                add: Call = lambda chunk, _: mem.add(chunk, user_id=_USER)  # noqa: E731
                await self.timed(f"{label}: loading through add()", chunks, {"memoryd": add})
            finally:
                await mem.close()
        mem = await self.open(name)
        base: Mem0Baseline | None = None
        try:
            if not api:
                await self.bulk(mem, [_USER], size, label)
            load_s = round(time.perf_counter() - start, 2)
            calls: dict[str, Call] = {
                "memoryd": lambda q, _: mem.search(q, user_id=_USER, limit=self.cfg.limit)
            }
            mem0_load_s = None
            if self.mem0 and api and size in self.cfg.mem0_sizes:
                base, mem0_load_s = await self.mem0_loaded(label, size)
                calls["mem0"] = lambda q, _: base.search(q, user_id=_USER, limit=self.cfg.limit)  # type: ignore[union-attr]
            await self.timed(f"{label}: warm-up", self.warm_queries, calls)
            warm = (self.warm_queries or self.queries)[0]
            switch = {name: bind(call, warm) for name, call in calls.items()}
            times = await self.timed(f"{label}: searches ({self._who(calls)})", self.queries, calls, switch)
            parts = await self.breakdown(mem, _USER)
            context = await self.contexts(mem, label) if self.cfg.context else None
        finally:
            await mem.close()
            if base is not None:
                base.close()
            await self.discard(name, f"mem0-{name}")
        mem0 = Latency.of(times["mem0"]) if "mem0" in times else None
        load = "api-add" if api else "bulk-commit"
        ours = Latency.of(times["memoryd"])
        return SearchTier(label, size, 1, load, load_s, ours, None, parts, mem0, mem0_load_s, context)

    async def contexts(self, mem: AsyncMemory, label: str) -> Latency:
        """``context()`` for each query (after warm-up): profile, preferences, both searches, trimming."""
        call: Call = lambda q, _: mem.context(q, user_id=_USER)  # noqa: E731
        await self.timed(f"{label}: context() warm-up", self.context_warm, {"memoryd": call})
        times = await self.timed(f"{label}: context() calls", self.context_queries, {"memoryd": call})
        return Latency.of(times["memoryd"])

    async def mem0_loaded(self, label: str, size: int) -> tuple[Mem0Baseline, float]:
        """A mem0 store holding the same ``size`` pooled texts, added one by one through its add()."""
        texts = self.pool_texts[:size]
        pooled = PooledEmbedder(self.embedder, texts, self.pool_vectors[:size])
        base = self.mem0_store(f"mem0-tier-{size}", pooled)
        try:
            add: Call = lambda text, _: base.add(text, user_id=_USER)  # noqa: E731
            load = await self.timed(f"mem0 {label}: loading through add()", texts, {"mem0": add})
        except BaseException:
            base.close()
            raise
        pooled.release()  # queries must reach the real model
        return base, round(sum(load["mem0"]), 2)

    async def multi_user_tier(self) -> SearchTier:
        cfg = self.cfg
        users = [f"user-{i:05d}" for i in range(cfg.users)]
        total = cfg.users * cfg.per_user
        name, label = "tier-multi", f"{tier_name(total)}/{cfg.users} users"
        start = time.perf_counter()
        mem = await self.open(name)
        try:
            await self.bulk(mem, users, cfg.per_user, label)
            load_s = time.perf_counter() - start
            warm_users = users[: max(1, min(20, cfg.users // 2))]
            cold_users = users[len(warm_users) :][: cfg.queries]
            source = self.warm_queries or self.queries[:1]
            await self.searches(mem, [source[i % len(source)] for i in range(len(warm_users))], warm_users)
            warm = Latency.of(await self.searches(mem, self.queries, warm_users))
            cold = None
            if cold_users:  # the first query of each of these users loads its partition
                cold = Latency.of(await self.searches(mem, self.queries[: len(cold_users)], cold_users))
            parts = await self.breakdown(mem, warm_users[0])
        finally:
            await mem.close()
            await self.discard(name)
        return SearchTier(label, total, cfg.users, "bulk-commit", round(load_s, 2), warm, cold, parts)


def _make_embedder(cfg: SpeedConfig) -> Embedder:
    overrides = {**cfg.overrides, "embedder": {**cfg.overrides.get("embedder", {}), "provider": cfg.embedder}}
    settings = load_settings(env={}, overrides=overrides)
    emb = settings.embedder
    embedder: Embedder = resolve("embedder", emb.provider)(threads=emb.threads, batch_size=emb.batch_size)
    return embedder


def _check(cfg: SpeedConfig) -> None:
    unknown = set(cfg.systems) - set(SYSTEMS)
    if unknown or "memoryd" not in cfg.systems:
        raise ValueError(f"systems must include memoryd and be among {', '.join(SYSTEMS)}; got {cfg.systems}")
    if cfg.queries < 1 or any(s < 1 for s in cfg.sizes) or cfg.batch_size < 1 or cfg.limit < 1:
        raise ValueError("queries, sizes, batch size and limit must be positive")
    if cfg.multi_user and (cfg.users < 1 or cfg.per_user < 1):
        raise ValueError("users and per_user must be positive")


async def run_speed_async(config: SpeedConfig, progress: Progress | None = None) -> SpeedResult:
    """Run the benchmark inside a running event loop."""
    _check(config)
    progress = progress or NoProgress()
    started, meter = datetime.now(UTC), CpuMeter()
    t0 = time.perf_counter()
    own_dir = config.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="memoryd-bench-")) if own_dir else Path(config.workdir or ".")
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        load_start = time.perf_counter()
        run = _Run(config, progress, workdir)
        run.embedder.embed(run.warm_texts[:8])  # model load and first-call costs, untimed
        embedder_info = {"provider": config.embedder, "name": run.embedder.name, "dim": run.embedder.dim,
                         "load_s": round(time.perf_counter() - load_start, 3)}  # fmt: skip
        result = SpeedResult(
            started.isoformat(), "", 0.0, machine_info(), embedder_info,
            {**asdict(config), "workdir": str(workdir), "pool_used": run.pool_size},
            {"memoryd": "measured", "mem0": "measured" if run.mem0 else "skipped"},
        )  # fmt: skip
        if "mem0" not in config.systems:
            result.systems["mem0"] = "skipped: not requested"
        elif not run.mem0:
            result.systems["mem0"] = "skipped: mem0 is not installed (pip install 'memoryd[bench]')"
        result.notes.append(LOAD_NOTE.format(api=config.api_load_max))
        if config.single_adds:
            await run.single_add(result)
        if config.batch_messages:
            await run.batch(result)
        if config.sizes or config.multi_user:
            seconds = run.embed_pool()
            result.embedder["pool_texts_per_s"] = round(run.pool_size / seconds, 1) if seconds else None
        for size in sorted(config.sizes):
            result.search.append(await run.tier(size))
        if config.multi_user:
            result.search.append(await run.multi_user_tier())
        api_max = min(config.api_load_max, run.pool_size)
        if run.mem0 and any(s in config.sizes and s > api_max for s in config.mem0_sizes):
            result.notes.append("mem0 is measured only at tiers loaded through add() (not bulk tiers).")
    finally:
        if own_dir and not config.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    result.machine["other_cpu_share"] = meter.others_share()
    result.finished_at = datetime.now(UTC).isoformat()
    result.duration_s = round(time.perf_counter() - t0, 2)
    return result
