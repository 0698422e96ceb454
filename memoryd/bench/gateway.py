"""``memoryd bench gateway``: what the chat gateway adds to a chat call, and the rate it sustains.

Three processes on loopback: a scripted OpenAI-compatible upstream (a bare ASGI
app under uvicorn that answers at once: a fixed answer of ``answer_words``
words, plain or streamed one word per chunk), a ``memoryd`` server whose
``[llm]`` points at it (its store holding ``memories`` memories of the user
the calls name, bulk-loaded; the store itself in fast mode, so write-backs
are not extraction calls to the fake), and this process, the client.

1. **Added latency, plain calls**: the same chat calls (distinct questions)
   sent straight to the upstream and through memoryd, alternating in blocks so
   that load from elsewhere falls on both; memoryd's calls name the user, so
   each builds and injects a memory block and schedules a write-back. The
   figure is p95 through memoryd minus p95 direct (target ≤ 15 ms); the
   memory lookup's own time (``X-Memoryd-Memory-Ms``) is reported too, and so
   are calls through memoryd that name no user (a pass-through: the cost of
   the extra hop alone).
2. **Time to first byte, streams**: the same, ``stream: true``, timed to the
   first byte of the body (target: overhead p95 ≤ 15 ms).
3. **Sustained rate**: calls started on a fixed schedule (open loop) at
   ``rate`` per second for ``duration_s``, at most ``concurrency`` in flight;
   the achieved rate, latency percentiles and every error (target: 200/s, no
   errors). Write-backs still pending at the end are reported.

The machine's cores are shared by the three processes and anything else
running: the report gives the load average and other processes' CPU share.
The client is aiohttp, not httpx: with 64 connections httpx's pool spends
about 2 ms of CPU per request, which on two cores would be taken from the
server being measured (aiohttp: 0.2 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from rich.table import Table

from memoryd.bench.bulk import bulk_load
from memoryd.bench.corpus import queries, sentences
from memoryd.bench.results import CpuMeter, Latency, machine_info
from memoryd.config import load_settings
from memoryd.embedders.base import make_embedder
from memoryd.memory import AsyncMemory
from memoryd.registry import resolve

__all__ = ["GatewayBenchConfig", "GatewayBenchResult", "report_table", "run_gateway_bench"]

TARGETS = {"added_p95_ms": 15.0, "ttfb_added_p95_ms": 15.0, "rate_per_s": 200.0}
USER = "bench-user"
MODEL = "bench-model"
BLOCK = 20
Note = Callable[[str], None]


@dataclass
class GatewayBenchConfig:
    memories: int = 10_000
    pool: int = 2_000  # sentences embedded once, reused (with a number token) to fill the store
    requests: int = 300  # measured calls per path (direct, through memoryd), plain and streamed each
    warmup: int = 20
    rate: float = 200.0
    duration_s: float = 20.0
    concurrency: int = 64
    answer_words: int = 40
    writeback: bool = True
    embedder: str = "use"
    workdir: Path | None = None
    seed: int = 0


@dataclass
class Sustained:
    offered_per_s: float
    seconds: float
    sent: int
    ok: int
    errors: int
    achieved_per_s: float
    latency: Latency | None
    error_kinds: dict[str, int] = field(default_factory=dict)
    writebacks_pending_at_end: int | None = None


@dataclass
class GatewayBenchResult:
    machine: dict[str, Any]
    config: dict[str, Any]
    direct: Latency | None = None
    through: Latency | None = None
    passthrough: Latency | None = None  # through memoryd without a user: the hop alone
    memory_ms: Latency | None = None  # the memory lookup, as memoryd timed it (X-Memoryd-Memory-Ms)
    injected_mean: float | None = None
    ttfb_direct: Latency | None = None
    ttfb_through: Latency | None = None
    sustained: Sustained | None = None
    others_cpu_share: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def added_p95_ms(self) -> float | None:
        return (
            None if not (self.direct and self.through) else round(self.through.p95_ms - self.direct.p95_ms, 2)
        )

    @property
    def ttfb_added_p95_ms(self) -> float | None:
        if not (self.ttfb_direct and self.ttfb_through):
            return None
        return round(self.ttfb_through.p95_ms - self.ttfb_direct.p95_ms, 2)

    def targets(self) -> dict[str, bool | None]:
        s = self.sustained
        return {
            "added_p95_ms": None
            if self.added_p95_ms is None
            else self.added_p95_ms <= TARGETS["added_p95_ms"],
            "ttfb_added_p95_ms": None
            if self.ttfb_added_p95_ms is None
            else self.ttfb_added_p95_ms <= TARGETS["ttfb_added_p95_ms"],
            # Judged only when the target rate was offered: met with no error and (nearly) all of it served.
            "rate_per_s": None
            if s is None or s.offered_per_s < TARGETS["rate_per_s"]
            else s.errors == 0 and s.achieved_per_s >= 0.98 * TARGETS["rate_per_s"],
        }

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        for key in ("direct", "through", "passthrough", "memory_ms", "ttfb_direct", "ttfb_through"):
            if body[key]:
                body[key].pop("samples_ms", None)
        if body["sustained"] and body["sustained"]["latency"]:
            body["sustained"]["latency"].pop("samples_ms", None)
        body["added_p95_ms"] = self.added_p95_ms
        body["ttfb_added_p95_ms"] = self.ttfb_added_p95_ms
        body["targets"] = self.targets()
        return body


# -- the scripted upstream ---------------------------------------------------------------
def _upstream_app(words: int) -> Any:
    answer = " ".join(f"word{i}" for i in range(words))
    pieces = [f"word{i} " if i < words - 1 else f"word{i}" for i in range(words)]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {
            "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }  # fmt: skip
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

    usage = {"prompt_tokens": 100, "completion_tokens": words, "total_tokens": 100 + words}
    plain = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": MODEL,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
            ],
            "usage": usage,
        }  # fmt: skip
    ).encode()
    stream = [chunk({"role": "assistant", "content": ""}), *(chunk({"content": p}) for p in pieces)]
    stream.append(chunk({}, "stop"))
    usage_chunk = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": MODEL}
    with_usage = b"data: " + json.dumps({**usage_chunk, "choices": [], "usage": usage}).encode() + b"\n\n"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        payload = json.loads(body or b"{}")
        if not payload.get("stream"):
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": plain})
            return
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for part in stream:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        if (payload.get("stream_options") or {}).get("include_usage"):
            await send({"type": "http.response.body", "body": with_usage, "more_body": True})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})

    return app


def _serve(app: Any, conn: Connection, after: Callable[[], Any] | None = None) -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    # A long keep-alive: the client reuses its connections, and a server closing an idle one just as
    # the client sends on it would count as an error of the gateway.
    config = uvicorn.Config(
        app, log_level="warning", lifespan="auto", access_log=False, ws="none", timeout_keep_alive=120
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                await task
                return
            await asyncio.sleep(0.01)
        conn.send(sock.getsockname()[1])
        stop = asyncio.get_running_loop().run_in_executor(None, conn.recv)  # any message: stop
        await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        await task
        if after is not None:
            await after()

    asyncio.run(main())


def _upstream_child(conn: Connection, words: int) -> None:
    _serve(_upstream_app(words), conn)


def _memoryd_child(conn: Connection, overrides: dict[str, Any]) -> None:
    from memoryd.server import create_app

    settings = load_settings(env={}, overrides=overrides)
    plain = settings.model_copy(update={"llm": load_settings(env={}).llm})  # the store in fast mode
    memory = AsyncMemory(plain)
    _serve(create_app(settings, memory=memory), conn, after=memory.close)


class _Child:
    """A server in a process of its own; ``port`` once it listens."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=target, args=(child, *args), daemon=True)
        self.process.start()
        if not self.conn.poll(120):
            self.stop()
            raise RuntimeError("a benchmark server did not start within 120 s")
        self.port: int = self.conn.recv()

    def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send("stop")
            self.process.join(60)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(10)


# -- the run -------------------------------------------------------------------------------
def run_gateway_bench(config: GatewayBenchConfig, note: Note = lambda _: None) -> GatewayBenchResult:
    """Run the three measurements (see the module docstring); blocks until done."""
    if min(config.memories, config.requests, config.concurrency, config.answer_words) < 1:
        raise ValueError("memories, requests, concurrency and answer words must be positive")
    if config.rate <= 0 or config.duration_s <= 0:
        raise ValueError("rate and duration must be positive")
    if config.workdir is not None:  # a --workdir that does not exist yet is made, as bench speed does
        config.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="memoryd-bench-gateway-", dir=config.workdir))
    try:
        return asyncio.run(_Run(config, workdir, note).run())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


class _Run:
    def __init__(self, cfg: GatewayBenchConfig, workdir: Path, note: Note) -> None:
        self.cfg = cfg
        self.workdir = workdir
        self.note = note
        # A question of its own for every call: memoryd keeps the vectors of texts it embedded a
        # moment ago, and a question asked again would skip its embedding.
        calls = 5 * (cfg.requests + cfg.warmup) + int(cfg.rate * cfg.duration_s) + 100
        self.questions = queries(calls, seed=cfg.seed)
        self.turn = 0

    def overrides(self, upstream: int) -> dict[str, Any]:
        return {
            "storage": {"path": str(self.workdir / "bench.db")},
            "embedder": {"provider": self.cfg.embedder},
            "llm": {"provider": "custom", "base_url": f"http://127.0.0.1:{upstream}/v1", "model": MODEL},
            "gateway": {"writeback": self.cfg.writeback},
        }

    async def load(self) -> None:
        settings = load_settings(env={}, overrides=self.overrides(1))
        cfg = settings.embedder
        embedder = make_embedder(resolve("embedder", cfg.provider), cfg)
        texts = sentences(min(self.cfg.pool, self.cfg.memories), seed=self.cfg.seed)
        self.note(f"embedding {len(texts)} sentences, then loading {self.cfg.memories:,} memories of {USER}")
        vectors = np.asarray(await asyncio.to_thread(embedder.embed, texts), dtype=np.float32)
        async with AsyncMemory(
            settings.model_copy(update={"llm": load_settings(env={}).llm}), embedder=embedder
        ) as m:
            await bulk_load(m.storage, texts, vectors, [USER], self.cfg.memories, seed=self.cfg.seed)

    async def run(self) -> GatewayBenchResult:
        result = GatewayBenchResult(machine=machine_info(), config={**asdict(self.cfg), "workdir": None})
        await self.load()
        meter = CpuMeter(children=True)
        upstream = _Child(_upstream_child, self.cfg.answer_words)
        try:
            self.note("starting memoryd (loading the embedder)")
            server = await asyncio.to_thread(_Child, _memoryd_child, self.overrides(upstream.port))
            try:
                connector = aiohttp.TCPConnector(limit=self.cfg.concurrency)
                timeout = aiohttp.ClientTimeout(total=60)
                async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
                    self.direct = f"http://127.0.0.1:{upstream.port}/v1/chat/completions"
                    self.through = f"http://127.0.0.1:{server.port}/v1/chat/completions"
                    await self.plain(client, result)
                    await self.streams(client, result)
                    await self.sustained(client, result, server.port)
            finally:
                server.stop()
        finally:
            upstream.stop()
        result.others_cpu_share = meter.others_share()
        result.notes.append(
            "Direct and through-memoryd calls carry the same messages; memoryd's also name the user "
            f"({self.cfg.memories:,} memories), so each builds a memory block (token budget "
            "gateway.token_budget), injects it and schedules a write-back"
            + (" (synchronous add: no async pipeline)." if self.cfg.writeback else " (write-back off).")
        )
        return result

    def body(self, through: bool, stream: bool = False) -> dict[str, Any]:
        self.turn += 1
        question = self.questions[self.turn % len(self.questions)]
        body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": question}]}
        if stream:
            body["stream"] = True
        if through:
            body["user"] = USER
        return body

    async def _alternate(self, calls: dict[str, Callable[[], Any]], n: int) -> dict[str, list[float]]:
        """``n`` timed calls of each, taking turns in blocks (the first ``warmup`` untimed)."""
        for name in calls:
            for _ in range(self.cfg.warmup):
                await calls[name]()
        out: dict[str, list[float]] = {name: [] for name in calls}
        names = list(calls)
        for turn, first in enumerate(range(0, n, BLOCK)):
            for k in range(len(names)):
                name = names[(turn + k) % len(names)]
                for _ in range(min(BLOCK, n - first)):
                    out[name].append(await calls[name]())
        return out

    async def plain(self, client: aiohttp.ClientSession, result: GatewayBenchResult) -> None:
        n = self.cfg.requests
        self.note(f"plain calls: {n} direct, {n} through memoryd, {n} through memoryd without a user")
        memory_ms: list[float] = []
        injected: list[int] = []

        async def post(url: str, body: dict[str, Any]) -> tuple[float, Any]:
            start = time.perf_counter()
            async with client.post(url, json=body) as r:
                r.raise_for_status()
                await r.read()
            return time.perf_counter() - start, r.headers

        async def direct() -> float:
            return (await post(self.direct, self.body(False)))[0]

        async def through() -> float:
            took, headers = await post(self.through, self.body(True))
            memory_ms.append(float(headers["x-memoryd-memory-ms"]) / 1000)
            injected.append(int(headers["x-memoryd-memories-injected"]))
            return took

        async def passthrough() -> float:
            return (await post(self.through, self.body(False)))[0]

        calls = {"direct": direct, "through": through, "passthrough": passthrough}
        times = await self._alternate(calls, self.cfg.requests)
        result.direct, result.through = Latency.of(times["direct"]), Latency.of(times["through"])
        result.passthrough = Latency.of(times["passthrough"])
        measured = memory_ms[-self.cfg.requests :]
        result.memory_ms = Latency.of(measured)
        result.injected_mean = round(sum(injected[-self.cfg.requests :]) / max(1, len(measured)), 1)

    async def streams(self, client: aiohttp.ClientSession, result: GatewayBenchResult) -> None:
        self.note(
            f"streams: {self.cfg.requests} direct, {self.cfg.requests} through memoryd (time to first byte)"
        )

        async def first_byte(url: str, body: dict[str, Any]) -> float:
            start = time.perf_counter()
            async with client.post(url, json=body) as r:
                r.raise_for_status()
                ttfb = None
                async for _ in r.content.iter_any():
                    ttfb = ttfb or time.perf_counter() - start
            if ttfb is None:
                raise RuntimeError("an empty stream")
            return ttfb

        times = await self._alternate(
            {
                "direct": lambda: first_byte(self.direct, self.body(False, stream=True)),
                "through": lambda: first_byte(self.through, self.body(True, stream=True)),
            },
            self.cfg.requests,
        )
        result.ttfb_direct, result.ttfb_through = Latency.of(times["direct"]), Latency.of(times["through"])

    async def sustained(self, client: aiohttp.ClientSession, result: GatewayBenchResult, port: int) -> None:
        cfg = self.cfg
        total = int(cfg.rate * cfg.duration_s)
        self.note(
            f"sustained: {total:,} calls at {cfg.rate:g}/s for {cfg.duration_s:g} s "
            f"(≤ {cfg.concurrency} in flight)"
        )
        slots = asyncio.Semaphore(cfg.concurrency)
        latencies: list[float] = []
        errors: dict[str, int] = {}

        async def one(body: dict[str, Any]) -> None:
            async with slots:
                start = time.perf_counter()
                try:
                    async with client.post(self.through, json=body) as r:
                        await r.read()
                        if r.status != 200:
                            errors[f"HTTP {r.status}"] = errors.get(f"HTTP {r.status}", 0) + 1
                            return
                except (aiohttp.ClientError, TimeoutError) as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    return
                latencies.append(time.perf_counter() - start)

        tasks = []
        start = time.perf_counter()
        for i in range(total):
            delay = start + i / cfg.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(self.body(True))))
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - start
        pending = None
        try:
            async with client.get(f"http://127.0.0.1:{port}/health") as r:
                health = await r.json(content_type=None)
            pending = health["checks"]["gateway"]["writeback"]["in_flight"]
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError):
            pass
        ok = len(latencies)
        result.sustained = Sustained(
            offered_per_s=cfg.rate, seconds=round(seconds, 2), sent=total, ok=ok, errors=total - ok,
            achieved_per_s=round(ok / seconds, 1), latency=Latency.of(latencies) if latencies else None,
            error_kinds=errors, writebacks_pending_at_end=pending,
        )  # fmt: skip


def report_table(result: GatewayBenchResult) -> Table:
    """The figures next to their targets."""
    table = Table("measure", "figure", "target", "met", title="memoryd bench gateway")
    met = result.targets()

    def mark(value: bool | None) -> str:
        return "" if value is None else "[green]yes[/green]" if value else "[red]no[/red]"

    def lat(x: Latency | None) -> str:
        return "—" if x is None else f"p50 {x.p50_ms:.1f} ms, p95 {x.p95_ms:.1f} ms (n={x.n})"

    def ms(x: float | None) -> str:
        return "—" if x is None else f"{x:+.1f} ms"

    table.add_row("plain call, direct to the upstream", lat(result.direct), "", "")
    table.add_row("plain call, through memoryd, no user (pass-through)", lat(result.passthrough), "", "")
    table.add_row("plain call, through memoryd", lat(result.through), "", "")
    table.add_row("added latency (p95 through − p95 direct)", ms(result.added_p95_ms), "≤ 15 ms",
                  mark(met["added_p95_ms"]))  # fmt: skip
    table.add_row(
        "memory lookup inside memoryd (X-Memoryd-Memory-Ms)",
        lat(result.memory_ms) + (f"; {result.injected_mean} memories injected on average"
                                 if result.injected_mean is not None else ""),
        "", "",
    )  # fmt: skip
    table.add_row("stream, first byte, direct", lat(result.ttfb_direct), "", "")
    table.add_row("stream, first byte, through memoryd", lat(result.ttfb_through), "", "")
    table.add_row("added time to first byte (p95 − p95)", ms(result.ttfb_added_p95_ms), "≤ 15 ms",
                  mark(met["ttfb_added_p95_ms"]))  # fmt: skip
    s = result.sustained
    if s is not None:
        errors = f"{s.errors} errors" + (f" {s.error_kinds}" if s.error_kinds else "")
        table.add_row(
            f"sustained, offered {s.offered_per_s:g}/s ({s.sent:,} calls; all done after {s.seconds:g} s)",
            f"{s.achieved_per_s:g}/s achieved, {s.ok:,}/{s.sent:,} ok, {errors}",
            "200/s, 0 errors",
            mark(met["rate_per_s"]),
        )
        table.add_row("sustained, latency under load", lat(s.latency), "", "")
        if s.writebacks_pending_at_end is not None:
            table.add_row("write-backs still running at the end", str(s.writebacks_pending_at_end), "", "")
    load = result.machine.get("load_average")
    table.caption = (
        f"{result.machine.get('cores')} cores shared by the upstream, memoryd and the client; load average "
        f"{load}; other processes used "
        f"{result.others_cpu_share if result.others_cpu_share is not None else '?'} of the CPU during the run"
    )
    return table
