"""``memoryd bench``: benchmarks, as a typer sub-app the main CLI mounts.

``memoryd bench speed`` measures add latency, batch ingest throughput,
search and context() latency at growing store sizes, next to mem0 when it is installed, and
prints a table (optionally a JSON document with every raw figure).
``memoryd bench locomo`` and ``memoryd bench longmemeval`` measure retrieval
quality on those datasets, memoryd next to BM25 and mem0
(:mod:`memoryd.bench.quality`), and write a report directory. With ``--qa`` and
an LLM configured (``[llm]``, ``MEMORYD_LLM_*``) they also answer each question
from its hits and grade the answers with an LLM judge
(:mod:`memoryd.bench.quality.qa`). ``memoryd bench gateway`` measures what the chat
gateway adds to a chat call and the rate it sustains (:mod:`memoryd.bench.gateway`).
Each command exits 0 when the run completes —
missed targets are reported, not failures — 1 when something breaks, and 2 on
bad options (``--qa`` without an LLM, say).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape

from memoryd.bench.mem0_baseline import mem0_available
from memoryd.bench.quality import report as quality_report
from memoryd.bench.quality.cache import default_cache_path
from memoryd.bench.quality.qa import LLMJudgeQA, build_qa
from memoryd.bench.quality.results import QualityResult
from memoryd.bench.quality.runner import STANDARD_KS, QualityConfig, run_quality, run_quality_async
from memoryd.bench.quality.systems import SYSTEMS as QUALITY_SYSTEMS
from memoryd.bench.report import RichProgress, print_report, to_json, write_json
from memoryd.bench.results import Progress
from memoryd.bench.speed import SYSTEMS, SpeedConfig, run_speed
from memoryd.cli.output import CliState
from memoryd.cli.stdout import MemorydConsole
from memoryd.config import Settings, load_settings
from memoryd.errors import ConfigError, MemorydError
from memoryd.registry import available

__all__ = ["app"]

app = typer.Typer(
    help="Benchmarks: speed (latency, throughput) and retrieval quality (LoCoMo, LongMemEval).",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _bench() -> None:
    """Benchmarks: speed (latency, throughput) and retrieval quality (LoCoMo, LongMemEval)."""


def _ints(value: str, option: str, example: str) -> tuple[int, ...]:
    """Parse ``option``'s "1000,10k,1M" into integers; a bad part is refused naming ``option`` and
    ``example`` (a value of its own: ``--k`` is not given store sizes)."""
    out = []
    for part in (p.strip().lower() for p in value.split(",")):
        if not part:
            continue
        scale = {"k": 1_000, "m": 1_000_000}.get(part[-1], 1)
        digits = part[:-1] if scale > 1 else part
        if not digits.isdigit() or int(digits) * scale < 1:
            raise typer.BadParameter(
                f"{option} takes positive integers like {example}; got {part!r}", param_hint=option
            )
        out.append(int(digits) * scale)
    return tuple(out)


def _check_embedder(name: str) -> None:
    """``--embedder`` names an installed embedder, or the command line is wrong (exit 2)."""
    embedders = [entry.name for entry in available("embedder")]
    if name not in embedders:
        raise typer.BadParameter(f"choose one of {', '.join(embedders)}", param_hint="--embedder")


def _overrides(pairs: list[str]) -> dict[str, Any]:
    """Turn ``section.key=value`` pairs (``storage.postgres.url=…`` for a nested section) into
    nested settings overrides, and validate them."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise typer.BadParameter(f"expected section.key=value, got {pair!r}", param_hint="--set")
        section = out
        for part in parts[:-1]:
            section = section.setdefault(part, {})
            if not isinstance(section, dict):
                raise typer.BadParameter(f"{key!r} sets a value and a section at once", param_hint="--set")
        section[parts[-1]] = value
    try:
        load_settings(env={}, overrides=out)
    except MemorydError as exc:
        raise typer.BadParameter(exc.message, param_hint="--set") from exc
    return out


def _writable(out: Path | None, *, directory: bool, option: str = "--out") -> None:
    """``option`` (``--out``, ``--workdir``, ``--cache``) is refused (exit 2) before the run when it
    cannot be written, so that no run's figures are lost at its end; nothing is created here (the run
    makes the missing folders)."""
    if out is None:
        return
    target, kind = out.absolute(), "directory" if directory else "file"
    if target.exists():
        if target.is_dir() != directory:
            raise typer.BadParameter(f"{out} is {'a file' if directory else 'a directory'}; give a {kind}",
                                     param_hint=option)  # fmt: skip
        if not os.access(target, os.W_OK):
            raise typer.BadParameter(f"{out} is not writable", param_hint=option)
        return
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise typer.BadParameter(f"cannot make {out}: {parent} is a file, not a directory",
                                 param_hint=option)  # fmt: skip
    if not os.access(parent, os.W_OK | os.X_OK):
        raise typer.BadParameter(f"cannot make {out}: {parent} is not writable", param_hint=option)


def _failed(name: str, exc: BaseException, as_json: bool) -> typer.Exit:
    """A failed run: one red line on stderr and, with ``--json``, an error document on stdout; exit 1."""
    MemorydConsole(stderr=True).print(f"[red]bench {name} failed:[/] {escape(str(exc))}", soft_wrap=True)
    if as_json:
        code = exc.code if isinstance(exc, MemorydError) else "bench_failed"
        doc = {"error": {"code": code, "message": f"bench {name} failed: {exc}"}}
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    return typer.Exit(1)


def _interrupted(as_json: bool, what: str = "") -> typer.Exit:
    """Ctrl-C: "interrupted" (and what is left) on stderr, ``{"interrupted": true}`` with ``--json``;
    exit 130, as every other command."""
    MemorydConsole(stderr=True).print(f"[yellow]interrupted[/yellow]{': ' + escape(what) if what else ''}",
                               soft_wrap=True)  # fmt: skip
    if as_json:
        sys.stdout.write(json.dumps({"interrupted": True}, indent=2) + "\n")
    return typer.Exit(130)


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
    systems: Annotated[str, typer.Option(help="memoryd, or memoryd,mem0.")] = "memoryd,mem0",
    mem0_sizes: Annotated[str, typer.Option(help="Tiers at which mem0 is measured too.")] = "1000,10000",
    pool: Annotated[int, typer.Option(min=1, help="Sentences embedded once to fill tiers.")] = 20000,
    api_load_max: Annotated[int, typer.Option(min=0, help="Tiers up to this size load via add().")] = 10000,
    breakdown: Annotated[int, typer.Option(min=0, help="Queries per tier timed part by part.")] = 50,
    context: Annotated[
        bool, typer.Option("--context/--no-context", help="Also time context() at each single-user tier.")
    ] = True,
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
    """Latency and throughput: add, batch ingest, search and context() at growing store sizes."""
    chosen = tuple(s.strip() for s in systems.split(",") if s.strip())
    if "memoryd" not in chosen or set(chosen) - set(SYSTEMS):
        raise typer.BadParameter(
            f"choose among {', '.join(SYSTEMS)} (memoryd required)", param_hint="--systems"
        )
    _check_embedder(embedder)
    config = SpeedConfig(
        sizes=_ints(sizes, "--sizes", "1k,10k,100k"), multi_user=multi_user, users=users, per_user=per_user,
        queries=queries, warmup=warmup, single_adds=single_adds, batch_size=batch_size,
        batch_messages=batch_messages, embedder=embedder, systems=chosen,
        mem0_sizes=_ints(mem0_sizes, "--mem0-sizes", "1000,10000"), pool=pool, api_load_max=api_load_max,
        breakdown=breakdown, context=context, limit=limit, seed=seed, workdir=workdir, keep=keep,
        overrides=_overrides(settings or []),
    )  # fmt: skip
    _writable(out, directory=False)
    console = MemorydConsole()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = MemorydConsole(width=120)
    try:
        if progress:
            with RichProgress(MemorydConsole(stderr=True)) as bars:
                result = run_speed(config, bars)
        else:
            result = run_speed(config)
    except (MemorydError, ValueError, OSError) as exc:
        raise _failed("speed", exc, as_json) from exc
    except KeyboardInterrupt:
        raise _interrupted(as_json, "nothing was written") from None
    if out is not None:
        try:
            written = write_json(result, out)
        except OSError as exc:
            raise _failed("speed", OSError(f"could not write {out}: {exc}"), as_json) from exc
    if as_json:
        sys.stdout.write(json.dumps(to_json(result), ensure_ascii=False, indent=2) + "\n")
        return
    print_report(result, console)
    if out is not None:
        console.print(f"JSON written to {written}")


# -- retrieval quality: locomo, longmemeval -------------------------------------
_REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = {
    "locomo": _REPO.parent / "shared" / "data" / "locomo" / "locomo_dev.json",
    "longmemeval": _REPO.parent / "shared" / "data" / "longmemeval" / "longmemeval_s_dev.json.gz",
}
_NAMES = {"locomo": "LoCoMo", "longmemeval": "LongMemEval"}

DataOpt = Annotated[
    Path | None,
    typer.Option(help="Dataset file, .json or .json.gz (default: the dev split in ../shared/data/).",
                 show_default=False),
]  # fmt: skip
LimitOpt = Annotated[int | None, typer.Option(min=1, help="Only the first N conversations / questions.")]
SystemOpt = Annotated[
    list[str] | None,
    typer.Option("--system", help="System to run: memoryd, bm25, mem0 (repeat or comma-separate) "
                 "(default: memoryd,bm25, plus mem0 when installed).", show_default=False),
]  # fmt: skip
EmbedderOpt = Annotated[str, typer.Option(help="Embedder for every system: use | minilm.")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="memoryd setting override, e.g. search.rrf_k=30.")
]
OutOpt = Annotated[
    Path | None,
    typer.Option(help="Report directory (default: bench-results/<dataset>-<time>).", show_default=False),
]
WorkdirOpt = Annotated[
    Path | None, typer.Option(help="Where stores are built and kept (default: a temp dir, removed).")
]
CacheOpt = Annotated[
    Path | None,
    typer.Option(help="Embedding cache file (default: ~/.cache/memoryd/bench/embeddings.sqlite).",
                 show_default=False),
]  # fmt: skip
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Embed every text again; keep no cache.")]
KOpt = Annotated[str, typer.Option("--k", help="Cut-offs k for the metrics and recall@k curves.")]
ProgressOpt = Annotated[bool, typer.Option(help="Show progress bars.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")]
QaOpt = Annotated[
    bool,
    typer.Option("--qa", help="Also answer each question from its hits with the configured LLM (llm config, "
                 "MEMORYD_LLM_MODEL) and grade it with an LLM judge (J protocol): accuracy, tokens."),
]  # fmt: skip
QaHitsOpt = Annotated[
    int, typer.Option("--qa-hits", min=1, help="QA: memories given to the answering model.")
]
JudgeModelOpt = Annotated[
    str | None,
    typer.Option("--judge-model", help="QA: judge with this model of the same LLM targets (default: the "
                 "answering model).", show_default=False),
]  # fmt: skip


_NO_MEM0 = "mem0 not run: it is not installed (pip install 'memoryd[bench]')."


def _systems(values: list[str] | None) -> tuple[str, ...]:
    if not values:
        return ("memoryd", "bm25", "mem0") if mem0_available() else ("memoryd", "bm25")
    chosen = tuple(dict.fromkeys(p.strip() for v in values for p in v.split(",") if p.strip()))
    unknown = [name for name in chosen if name not in QUALITY_SYSTEMS]
    if unknown or not chosen:
        raise typer.BadParameter(
            f"choose among {', '.join(QUALITY_SYSTEMS)}; got {', '.join(unknown) or 'nothing'}",
            param_hint="--system",
        )
    return chosen


_NO_LLM = (
    "--qa needs an LLM and none is configured: set MEMORYD_LLM_MODEL (plus MEMORYD_LLM_BASE_URL and "
    "MEMORYD_LLM_API_KEY for an endpoint other than the provider's, MEMORYD_LLM_PROVIDER for another "
    "vendor), or the [llm] section of the --config file"
)


def _llm_settings(ctx: typer.Context) -> Settings:
    """The settings the LLM comes from: the root command's (``--config``, environment), else the
    environment's (``memoryd.cli.bench`` run on its own)."""
    state = ctx.find_object(CliState)
    if state is not None:
        return state.require_settings()
    try:
        return load_settings()
    except ConfigError as exc:
        raise typer.BadParameter(exc.message, param_hint="--qa") from exc


def _answerer(
    ctx: typer.Context, dataset: str, hits: int, judge_model: str | None, ks: tuple[int, ...]
) -> LLMJudgeQA:
    if hits > max(ks):
        raise typer.BadParameter(f"{hits} is more than the search returns (the largest --k, {max(ks)})",
                                 param_hint="--qa-hits")  # fmt: skip
    try:
        qa = build_qa(_llm_settings(ctx), dataset=dataset, hits=hits, judge_model=judge_model)
    except ConfigError as exc:
        raise typer.BadParameter(exc.message, param_hint="--qa") from exc
    if qa is None:
        raise typer.BadParameter(_NO_LLM, param_hint="--qa")
    return qa


async def _run_with_qa(config: QualityConfig, progress: Progress | None, qa: LLMJudgeQA) -> QualityResult:
    async with qa:  # the routers' HTTP clients are closed on the loop that used them
        return await run_quality_async(config, progress, qa)


def _quality(
    ctx: typer.Context, dataset: str, data: Path | None, limit: int | None, system: list[str] | None,
    embedder: str, settings: list[str] | None, out: Path | None, workdir: Path | None, cache: Path | None,
    no_cache: bool, k: str, progress: bool, as_json: bool, qa: bool, qa_hits: int, judge_model: str | None,
) -> None:  # fmt: skip
    path = data if data is not None else DEFAULT_DATA[dataset]
    if not path.is_file():
        where = "given" if data is not None else "default"
        raise typer.BadParameter(
            f"no {_NAMES[dataset]} file at {path} ({where} path); give the dataset file with --data PATH",
            param_hint="--data",
        )
    _check_embedder(embedder)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    chosen = _systems(system)
    ks = _ints(k, "--k", "1,5,10")
    overrides = _overrides(settings or [])
    if judge_model is not None and not qa:
        raise typer.BadParameter("only with --qa", param_hint="--judge-model")
    answerer = _answerer(ctx, dataset, qa_hits, judge_model, (*ks, *STANDARD_KS)) if qa else None
    notes = (_NO_MEM0,) if not system and "mem0" not in chosen else ()
    _writable(out, directory=True)
    _writable(workdir, directory=True, option="--workdir")
    _writable(None if no_cache else cache, directory=False, option="--cache")
    config = QualityConfig(
        dataset=dataset, data=path, out=out or Path("bench-results") / f"{dataset}-{stamp}", limit=limit,
        systems=chosen, embedder=embedder, ks=ks, overrides=overrides, workdir=workdir,
        cache=None if no_cache else (cache or default_cache_path()),
        notes=(*notes, answerer.describe()) if answerer else notes,
    )  # fmt: skip
    console = MemorydConsole()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = MemorydConsole(width=160)

    def run(bars: Progress | None) -> QualityResult:
        if answerer is None:
            return run_quality(config, bars)
        return asyncio.run(_run_with_qa(config, bars, answerer))

    try:
        if progress:
            with RichProgress(MemorydConsole(stderr=True)) as bars:
                result = run(bars)
        else:
            result = run(None)
    except (MemorydError, ValueError, OSError, KeyError) as exc:
        raise _failed(dataset, exc, as_json) from exc
    except KeyboardInterrupt:
        left = f"no report; {config.out} holds the questions searched so far" if config.out.is_dir() else ""
        raise _interrupted(as_json, left) from None
    if as_json:
        doc = quality_report.to_json(result)
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return
    quality_report.print_quality_report(result, console)


@app.command()
def locomo(
    ctx: typer.Context, data: DataOpt = None, limit: LimitOpt = None, system: SystemOpt = None,
    embedder: EmbedderOpt = "use", settings: SetOpt = None, out: OutOpt = None, workdir: WorkdirOpt = None,
    cache: CacheOpt = None, no_cache: NoCacheOpt = False, k: KOpt = "1,3,5,10,20,50",
    progress: ProgressOpt = True, as_json: JsonOpt = False, qa: QaOpt = False, qa_hits: QaHitsOpt = 10,
    judge_model: JudgeModelOpt = None,
) -> None:  # fmt: skip
    """LoCoMo retrieval quality (turn any@k, fraction@k, session any@k), memoryd next to BM25 and mem0.

    Writes report.md, report.json, recall_at_k.png and a JSONL of each question's hits per system.
    With --qa, also LLM-judged answer accuracy (categories 1-4) and tokens per question.
    """
    _quality(ctx, "locomo", data, limit, system, embedder, settings, out, workdir, cache, no_cache, k,
             progress, as_json, qa, qa_hits, judge_model)  # fmt: skip


@app.command()
def longmemeval(
    ctx: typer.Context, data: DataOpt = None, limit: LimitOpt = None, system: SystemOpt = None,
    embedder: EmbedderOpt = "use", settings: SetOpt = None, out: OutOpt = None, workdir: WorkdirOpt = None,
    cache: CacheOpt = None, no_cache: NoCacheOpt = False, k: KOpt = "1,3,5,10,20,50",
    progress: ProgressOpt = True, as_json: JsonOpt = False, qa: QaOpt = False, qa_hits: QaHitsOpt = 10,
    judge_model: JudgeModelOpt = None,
) -> None:  # fmt: skip
    """LongMemEval retrieval quality (session recall@k, nDCG; official turn protocol), next to BM25, mem0.

    Writes report.md, report.json, recall_at_k.png and a JSONL of each question's hits per system.
    With --qa, also LLM-judged answer accuracy (every question) and tokens per question.
    """
    _quality(ctx, "longmemeval", data, limit, system, embedder, settings, out, workdir, cache, no_cache, k,
             progress, as_json, qa, qa_hits, judge_model)  # fmt: skip


# -- the async pipeline ------------------------------------------------------------
@app.command()
def pipeline(
    events: Annotated[int, typer.Option(min=1, help="Events for the enqueue-rate measurement.")] = 20_000,
    e2e_events: Annotated[int, typer.Option(min=1, help="Events for the end-to-end measurement.")] = 2_000,
    workers: Annotated[int, typer.Option(min=1, max=16, help="`memoryd worker` processes.")] = 2,
    users: Annotated[int, typer.Option(min=1, help="Users the events are spread over.")] = 8,
    batch_size: Annotated[int, typer.Option(min=1, max=1000, help="Events per worker batch.")] = 256,
    rate: Annotated[float, typer.Option(min=1, help="Events per second of the steady run.")] = 100.0,
    duration: Annotated[float, typer.Option(min=1, help="Seconds of the steady run.")] = 20.0,
    sample_every: Annotated[int, typer.Option(min=1, help="Search for every Nth steady event.")] = 10,
    embedder: Annotated[str, typer.Option(help="Embedder: use | minilm.")] = "use",
    redis_url: Annotated[
        str | None, typer.Option(help="Use this Redis (keys under a fresh prefix, removed after).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write every figure as JSON to this file.")] = None,
    workdir: Annotated[Path | None, typer.Option(help="Where the store is built (a temp dir).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The async pipeline: enqueue rate, throughput, latency to searchable.

    The enqueue rate, end-to-end throughput with N workers against the embedder alone, and
    enqueue-to-searchable latency at a steady rate (a throw-away redis-server unless --redis-url)."""
    from memoryd.bench.pipeline import PipelineBenchConfig, report_table, run_pipeline_bench

    _check_embedder(embedder)

    config = PipelineBenchConfig(
        enqueue_events=events, e2e_events=e2e_events, workers=workers, users=users, batch_size=batch_size,
        rate=rate, duration_s=duration, sample_every=sample_every, embedder=embedder, redis_url=redis_url,
        workdir=workdir,
    )  # fmt: skip
    _writable(out, directory=False)
    result = _run("pipeline", lambda note: run_pipeline_bench(config, note=note), as_json)
    if _emitted(result.to_dict(), out, as_json):
        return
    MemorydConsole(width=120).print(report_table(result))
    for text in result.notes:
        MemorydConsole().print(f"note: {text}")


T = TypeVar("T")


def _run(name: str, bench: Callable[[Callable[[str], None]], T], as_json: bool = False) -> T:
    """Run one benchmark, its progress notes dim on stderr; a failure is one red line and exit 1,
    and with ``--json`` also an error document on stdout."""
    err = MemorydConsole(stderr=True)
    try:
        return bench(lambda text: err.print(f"[dim]{escape(text)}[/dim]"))
    except (MemorydError, ValueError, OSError, RuntimeError) as exc:
        raise _failed(name, exc, as_json) from exc
    except KeyboardInterrupt:
        raise _interrupted(as_json, "nothing was written") from None


def _emitted(doc: dict[str, Any], out: Path | None, as_json: bool) -> bool:
    """Write ``doc`` to ``out`` if given; print it and say so (True) in ``--json`` mode."""
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if as_json:
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    return as_json


# -- the chat gateway ----------------------------------------------------------------
@app.command()
def gateway(
    memories: Annotated[int, typer.Option(min=1, help="Memories of the user the calls name.")] = 10_000,
    requests: Annotated[int, typer.Option(min=1, help="Measured calls per path, plain and streamed.")] = 300,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed calls per path first.")] = 20,
    rate: Annotated[float, typer.Option(min=1, help="Calls per second of the sustained run.")] = 200.0,
    duration: Annotated[float, typer.Option(min=1, help="Seconds of the sustained run.")] = 20.0,
    concurrency: Annotated[int, typer.Option(min=1, help="Most calls in flight in the sustained run.")] = 64,
    answer_words: Annotated[int, typer.Option(min=1, help="Words of the scripted answer.")] = 40,
    writeback: Annotated[
        bool, typer.Option("--writeback/--no-writeback", help="Store each turn (gateway.writeback).")
    ] = True,
    embedder: Annotated[str, typer.Option(help="Embedder: use | minilm.")] = "use",
    out: Annotated[Path | None, typer.Option(help="Write every figure as JSON to this file.")] = None,
    workdir: Annotated[Path | None, typer.Option(help="Where the store is built (a temp dir).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The chat gateway: the latency it adds and the rate it sustains.

    The latency it adds to plain calls and to a stream's first byte, against a scripted
    upstream on loopback, for a user with MEMORIES memories; then the rate it sustains without errors."""
    from memoryd.bench.gateway import GatewayBenchConfig, report_table, run_gateway_bench

    _check_embedder(embedder)

    config = GatewayBenchConfig(
        memories=memories, requests=requests, warmup=warmup, rate=rate, duration_s=duration,
        concurrency=concurrency, answer_words=answer_words, writeback=writeback, embedder=embedder,
        workdir=workdir,
    )  # fmt: skip
    _writable(out, directory=False)
    result = _run("gateway", lambda note: run_gateway_bench(config, note=note), as_json)
    if _emitted(result.to_dict(), out, as_json):
        return
    MemorydConsole(width=120).print(report_table(result))
    for text in result.notes:
        MemorydConsole().print(f"note: {text}")


# -- load ----------------------------------------------------------------------------
@app.command()
def load(
    clients: Annotated[int, typer.Option(min=1, max=1024, help="Concurrent HTTP clients.")] = 16,
    duration: Annotated[float, typer.Option(min=1, help="Seconds of load (after prefill, warm-up).")] = 30.0,
    users: Annotated[int, typer.Option(min=1, help="Users the requests are spread over.")] = 20,
    prefill: Annotated[int, typer.Option(min=0, help="Memories per user stored before the run.")] = 200,
    mix: Annotated[str, typer.Option(help="Shares of add,search,context requests.")] = "0.3,0.5,0.2",
    embedder: Annotated[str, typer.Option(help="Embedder of the server: use | minilm.")] = "use",
    out: Annotated[Path | None, typer.Option(help="Write every figure as JSON to this file.")] = None,
    workdir: Annotated[Path | None, typer.Option(help="Where the store is built (a temp dir).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """N concurrent clients against a real server: throughput, latency, errors, memory.

    The clients run against memoryd serve on loopback, mixing add, search and
    context for a bounded time: throughput, p50/p95/p99 per operation, errors (must be 0), and the
    server's memory (RSS) growth, first third against last third. Exits 1 if any request failed."""
    from memoryd.bench.load import LoadBenchConfig, report_table, run_load_bench, summary_text

    try:
        shares = tuple(float(x) for x in mix.split(","))
    except ValueError:
        shares = ()
    if len(shares) != 3 or min(shares) < 0 or sum(shares) <= 0:
        raise typer.BadParameter("expected three non-negative shares like 0.3,0.5,0.2", param_hint="--mix")
    _check_embedder(embedder)
    config = LoadBenchConfig(
        clients=clients, duration_s=duration, users=users, prefill=prefill, mix=shares,  # type: ignore[arg-type]
        embedder=embedder, workdir=workdir,
    )  # fmt: skip
    _writable(out, directory=False)
    result = _run("load", lambda note: run_load_bench(config, note=note), as_json)
    if not _emitted(result.to_dict(), out, as_json):
        console = MemorydConsole(width=120)
        console.print(report_table(result))
        console.print(summary_text(result))
        for example in result.error_examples:
            console.print(f"[red]error:[/] {escape(str(example))}")
        for text in result.notes:
            console.print(f"note: {text}")
    if result.errors:
        raise typer.Exit(1)
