"""Running a retrieval-quality benchmark: ingest, search, score, for each system.

:func:`run_quality` loads the dataset, builds the embedder once (wrapped in the
persistent :class:`~memoryd.bench.quality.cache.CachedEmbedder` unless the
cache is off) and runs each chosen system in turn on its own fresh store in
the work directory: every unit is ingested, then each unit gets one unscored
warm-up search (a scope's first search loads its index partitions; it is
timed apart) and every question is searched once with ``limit = max(ks)``
(the embedding cache is bypassed while searching, so search latency includes
embedding the query). A benchmark whose scorer ranks user turns only
(``Benchmark.user_turn_depth``: LongMemEval's official protocol) has the
search repeated with twice the limit until its hits hold ``max(ks)`` user
turns; the deepest search is scored, the first one timed. The hits are
mapped back to dataset turn keys and scored. One JSON line per question per
system goes to ``out/<system>.questions.jsonl`` as the run goes.

memoryd runs with the settings an application would use, plus, documented in
the report: ``limits.max_message_chars`` raised to the longest turn of the
dataset (LongMemEval holds a 41,855-character turn; turns are never cut or
dropped), ``storage.synchronous = NORMAL`` (a throw-away store: no fsync per
commit; retrieval is unaffected) and the chosen embedder; ``--set`` overrides
apply on top. The environment (``MEMORYD_*``) is ignored so runs are repeatable.

Extension point: an :class:`Answerer` (the LLM QA / judge mode is
:mod:`memoryd.bench.quality.qa`) receives each question with its hits; what it
returns is stored in the question's record under ``qa`` and its numeric
``scores`` are averaged like the retrieval metrics, as ``qa.<name>``, in the
question's groups or in the ``groups`` the answer lists. An answerer with a
``prepare(bench)`` method gets the loaded benchmark first.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from memoryd.bench.quality.cache import CachedEmbedder, default_cache_path
from memoryd.bench.quality.data import Benchmark, Question, Turn
from memoryd.bench.quality.locomo import load_locomo
from memoryd.bench.quality.longmemeval import load_longmemeval, parse_lme_date
from memoryd.bench.quality.metrics import dedupe, first_rank
from memoryd.bench.quality.report import write_reports
from memoryd.bench.quality.results import QualityResult, SystemRun
from memoryd.bench.quality.systems import SYSTEMS, BM25System, Mem0System, MemorydSystem, Retrieved, System
from memoryd.bench.results import CpuMeter, Latency, NoProgress, Progress, machine_info
from memoryd.config import Settings, load_settings
from memoryd.embedders import Embedder
from memoryd.registry import resolve

__all__ = [
    "DATASETS",
    "STANDARD_KS",
    "Answerer",
    "Preparing",
    "QualityConfig",
    "load_benchmark",
    "run_quality",
    "run_quality_async",
]

DATASETS = ("locomo", "longmemeval")
WARM_UP_QUERY = "what did we talk about last time?"
# Always scored, whatever --k says: the headline metrics need them.
STANDARD_KS = (1, 3, 5, 10)


class Answerer(Protocol):
    """The QA / LLM-judge extension point: answer a question from its hits, grade it.

    Return plain JSON data; a ``scores`` mapping of numbers is averaged per group: the
    question's groups, or the list under ``groups`` when the answer has one.
    """

    async def __call__(self, question: Question, hits: Sequence[Retrieved]) -> dict[str, Any]: ...


@runtime_checkable
class Preparing(Protocol):
    """An answerer that wants the loaded benchmark (turn dates, speakers) before the questions."""

    def prepare(self, bench: Benchmark) -> None: ...


@dataclass(frozen=True)
class QualityConfig:
    """One run. ``cache=None`` turns the embedding cache off; the default is the user cache."""

    dataset: str
    data: Path
    out: Path
    limit: int | None = None
    systems: tuple[str, ...] = ("memoryd", "bm25")
    embedder: str = "use"
    ks: tuple[int, ...] = (1, 3, 5, 10, 20, 50)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    workdir: Path | None = None
    cache: Path | None = field(default_factory=default_cache_path)
    snippet_chars: int = 200
    notes: tuple[str, ...] = ()  # added to the report's notes

    @property
    def eval_ks(self) -> tuple[int, ...]:
        return tuple(sorted({*self.ks, *STANDARD_KS}))


def load_benchmark(dataset: str, path: Path, limit: int | None = None) -> Benchmark:
    if dataset == "locomo":
        return load_locomo(path, limit)
    if dataset == "longmemeval":
        return load_longmemeval(path, limit)
    raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


def run_quality(
    config: QualityConfig, progress: Progress | None = None, answerer: Answerer | None = None
) -> QualityResult:
    """Run the benchmark (blocking) and return every figure; files go to ``config.out``."""
    return asyncio.run(run_quality_async(config, progress, answerer))


def _settings(config: QualityConfig, bench: Benchmark, store: Path) -> Settings:
    longest = max((len(t.text) for u in bench.units for s in u.sessions for t in s.turns), default=0)
    deepest = max((u.turn_count for u in bench.units), default=0) if bench.user_turn_depth else 0
    base = load_settings(env={})
    harness: dict[str, Any] = {
        "storage": {"synchronous": "NORMAL"},
        "limits": {"max_message_chars": max(base.limits.max_message_chars, longest),
                   "max_limit": max(base.limits.max_limit, max(config.eval_ks), deepest)},
        "embedder": {"provider": config.embedder},
    }  # fmt: skip
    merged: dict[str, Any] = {k: dict(v) for k, v in harness.items()}
    for section, values in config.overrides.items():
        merged.setdefault(section, {}).update(values)
    merged.setdefault("storage", {})["path"] = str(store)
    return load_settings(env={}, overrides=merged)


def _make_embedder(settings: Settings) -> Embedder:
    cfg = settings.embedder
    embedder: Embedder = resolve("embedder", cfg.provider)(threads=cfg.threads, batch_size=cfg.batch_size)
    return embedder


class _Run:
    def __init__(
        self, config: QualityConfig, bench: Benchmark, progress: Progress, answerer: Answerer | None
    ) -> None:
        self.config = config
        self.bench = bench
        self.progress = progress
        self.answerer = answerer
        self.limit = max(config.eval_ks)
        self.lookups = [u.turns_by_alias() for u in bench.units]

    def _ranked(self, unit_index: int, hits: Sequence[Retrieved]) -> tuple[list[Turn], int]:
        lookup = self.lookups[unit_index]
        turns: list[Turn] = []
        unknown = 0
        for hit in hits:
            for alias in hit.aliases:
                turn = lookup.get(alias)
                if turn is None:
                    unknown += 1
                else:
                    turns.append(turn)
        return dedupe(turns), unknown

    async def _deep_enough(
        self, system: System, unit_index: int, question: Question, hits: list[Retrieved]
    ) -> list[Retrieved]:
        """For a scorer that ranks user turns only (``Benchmark.user_turn_depth``): search again with
        twice the limit until the hits hold ``max(k)`` user turns, or the search returned all it has."""
        unit = self.bench.units[unit_index]
        limit = self.limit
        while self.bench.user_turn_depth and len(hits) >= limit and limit < unit.turn_count:
            ranked, _ = self._ranked(unit_index, hits)
            if sum(t.role == "user" for t in ranked) >= self.limit:
                break
            limit = min(2 * limit, unit.turn_count)
            hits = await system.search(unit.user_id, question.text, limit, _asked_at(question))
        return hits

    def _record(
        self, question: Question, hits: Sequence[Retrieved], ranked: Sequence[Turn],
        metrics: dict[str, float], search_s: float, unit_index: int,
    ) -> dict[str, Any]:  # fmt: skip
        lookup = self.lookups[unit_index]
        snippet = self.config.snippet_chars
        retrieved = []
        for rank, hit in enumerate(hits, start=1):
            turns = [lookup[a] for a in hit.aliases if a in lookup]
            keys = [t.key for t in turns]
            first = turns[0] if turns else None
            retrieved.append({
                "rank": rank, "turns": keys, "session": first.session if first else None,
                "role": first.role if first else None, "speaker": first.speaker if first else None,
                "score": round(hit.score, 6),
                "gold_turn": any(k in question.gold_turns for k in keys),
                "gold_session": bool(first and first.session in question.gold_sessions),
                "text": hit.text if len(hit.text) <= snippet else hit.text[:snippet] + "…",
            })  # fmt: skip
        return {
            "id": question.id, "kind": question.kind, "question": question.text, "answer": question.answer,
            "groups": list(question.groups), "scored": bool(metrics),
            "gold_turns": sorted(question.gold_turns), "gold_sessions": sorted(question.gold_sessions),
            **question.extra,
            "search_ms": round(search_s * 1000, 3),
            "first_gold_turn_rank": first_rank([t.key for t in ranked], question.gold_turns),
            "first_gold_session_rank": first_rank(dedupe(t.session for t in ranked), question.gold_sessions),
            "metrics": metrics, "retrieved": retrieved,
        }  # fmt: skip

    async def run_system(self, system: System, cache: CachedEmbedder | None, out: IO[str]) -> SystemRun:
        bench, name = self.bench, system.name
        run = SystemRun(name, "measured")
        before = (cache.hits, cache.misses) if cache else (0, 0)
        start = time.perf_counter()
        with self.progress.task(f"{name}: ingesting {len(bench.units)} scopes", bench.turn_count) as advance:
            for unit in bench.units:
                await system.ingest(unit)
                advance(unit.turn_count)
        run.ingest_s = round(time.perf_counter() - start, 3)
        if cache and (cache.hits, cache.misses) != before:
            served, computed = cache.hits - before[0], cache.misses - before[1]
            run.stats["embedding_cache"] = {"hits": served, "misses": computed}
        values: dict[str, dict[str, list[float]]] = {}
        timings: list[float] = []
        first: list[float] = []
        unknown = 0
        with (
            cache.bypass() if cache else nullcontext(),
            self.progress.task(f"{name}: {bench.question_count} searches", bench.question_count) as advance,
        ):
            for index, unit in enumerate(bench.units):
                # A scope's first search loads its index partitions (cold); it is timed apart and
                # not scored, so the measured searches are warm ones, as in a running service.
                t0 = time.perf_counter()
                await system.search(unit.user_id, WARM_UP_QUERY, self.limit)
                first.append(time.perf_counter() - t0)
                for question in unit.questions:
                    t0 = time.perf_counter()
                    hits = await system.search(unit.user_id, question.text, self.limit, _asked_at(question))
                    elapsed = time.perf_counter() - t0
                    timings.append(elapsed)
                    first_hits = hits
                    hits = await self._deep_enough(system, index, question, hits)
                    ranked, missing = self._ranked(index, hits)
                    unknown += missing
                    metrics = bench.score(question, ranked, self.config.eval_ks)
                    record = self._record(question, hits, ranked, metrics, elapsed, index)
                    scored = [(question.groups if metrics else (), metrics)]
                    if self.answerer is not None:
                        qa = await self.answerer(question, first_hits)
                        record["qa"] = qa
                        qa_scores = {f"qa.{k}": float(v) for k, v in qa.get("scores", {}).items()}
                        scored.append((tuple(qa.get("groups", question.groups)), qa_scores))
                    for groups, figures in scored:
                        for group in groups if figures else ():
                            bucket = values.setdefault(group, {})
                            for metric, value in figures.items():
                                bucket.setdefault(metric, []).append(value)
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    advance(1)
        run.search = Latency.of(timings) if timings else None
        run.first_search = Latency.of(first) if first else None
        run.aggregates = {
            group: {m: {"mean": round(sum(v) / len(v), 6), "n": len(v)} for m, v in sorted(metrics.items())}
            for group, metrics in values.items()
        }
        run.stats.update(system.stats())
        if unknown:
            run.stats["hits_naming_unknown_turns"] = unknown
        return run


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready copy (paths become strings)."""
    plain: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return plain


def _fresh(path: Path) -> Path:
    if path.is_dir():
        shutil.rmtree(path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


async def _open_system(
    name: str, settings: Settings, embedder: Embedder | None, workdir: Path, dataset: str
) -> System:
    if name == "bm25":
        return BM25System()
    if embedder is None:
        raise ValueError(f"system {name!r} needs an embedder")
    if name == "memoryd":
        system = MemorydSystem(settings, embedder)
        await system.memory.open()
        return system
    if name == "mem0":
        return Mem0System(embedder.embed, embedder.dim, _fresh(workdir / f"{dataset}-mem0"))
    raise ValueError(f"unknown system {name!r}; choose among {', '.join(SYSTEMS)}")


async def run_quality_async(
    config: QualityConfig, progress: Progress | None = None, answerer: Answerer | None = None
) -> QualityResult:
    """Run the benchmark inside a running event loop."""
    unknown = set(config.systems) - set(SYSTEMS)
    if unknown or not config.systems:
        raise ValueError(f"systems must be among {', '.join(SYSTEMS)}; got {', '.join(config.systems)}")
    if any(k < 1 for k in config.ks):
        raise ValueError("every k must be a positive integer")
    progress = progress or NoProgress()
    started, meter, t0 = datetime.now(UTC), CpuMeter(), time.perf_counter()
    bench = load_benchmark(config.dataset, config.data, config.limit)
    if isinstance(answerer, Preparing):
        answerer.prepare(bench)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)  # before the temp dir, which a failure here would leave behind
    own_dir = config.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="memoryd-quality-")) if own_dir else Path(config.workdir or ".")
    workdir.mkdir(parents=True, exist_ok=True)
    settings = _settings(config, bench, _fresh(workdir / f"{config.dataset}-memoryd.db"))
    result = QualityResult(
        dataset=bench.name, source=bench.source, started_at=started.isoformat(), machine=machine_info(),
        config=_plain({**asdict(config), "eval_ks": list(config.eval_ks), "workdir": workdir}),
        counts={"units": len(bench.units), "questions": bench.question_count, "turns": bench.turn_count},
        settings={"limits.max_message_chars": settings.limits.max_message_chars,
                  "storage.synchronous": settings.storage.synchronous,
                  "search": settings.search.model_dump(mode="json")},
        headline=list(bench.headline), curves=list(bench.curves), groups=list(bench.groups),
        breakdown=list(bench.breakdown), targets=[(g, m, v) for (g, m), v in bench.targets.items()],
        notes=[*bench.notes, *config.notes],
    )  # fmt: skip
    cache: CachedEmbedder | None = None
    try:
        embedder: Embedder | None = None
        if set(config.systems) - {"bm25"}:  # BM25 alone needs no model
            load_start = time.perf_counter()
            inner = _make_embedder(settings)
            inner.embed(["warm up"])  # model load and first-call costs, not timed
            embedder = inner
            if config.cache is not None:
                cache = CachedEmbedder(inner, config.cache)
                embedder = cache
            result.embedder = {"provider": config.embedder, "name": inner.name, "dim": inner.dim,
                               "load_s": round(time.perf_counter() - load_start, 3),
                               "cache": str(config.cache) if config.cache is not None else None}  # fmt: skip
        runner = _Run(config, bench, progress, answerer)
        for name in config.systems:
            try:
                system = await _open_system(name, settings, embedder, workdir, config.dataset)
            except ImportError as exc:
                result.systems[name] = SystemRun(name, f"skipped: {exc}")
                continue
            path = out / f"{name}.questions.jsonl"
            try:
                with path.open("w", encoding="utf-8") as fh:
                    run = await runner.run_system(system, cache, fh)
            finally:
                await system.close()
            run.questions_file = path.name
            result.systems[name] = run
    finally:
        if cache is not None:
            cache.close()
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    result.machine["other_cpu_share"] = meter.others_share()
    result.finished_at = datetime.now(UTC).isoformat()
    result.duration_s = round(time.perf_counter() - t0, 2)
    write_reports(result, out)
    return result


def _asked_at(question: Question) -> datetime | None:
    """When the question is asked (LongMemEval's ``question_date``), for relative dates in it."""
    raw = question.extra.get("question_date")
    if not raw:
        return None
    try:
        return parse_lme_date(str(raw))
    except ValueError:
        return None
