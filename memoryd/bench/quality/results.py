"""What a quality run produces: per-system figures and the run's context, as dataclasses.

:class:`QualityResult` turns into JSON with :func:`dataclasses.asdict`;
:mod:`memoryd.bench.quality.report` renders it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from memoryd.bench.results import Latency

__all__ = ["QualityResult", "SystemRun"]


@dataclass
class SystemRun:
    """What one system did: status, timings, aggregates ``{group: {metric: {mean, n}}}``."""

    name: str
    status: str
    ingest_s: float | None = None
    search: Latency | None = None  # the questions' searches (each scope warmed up first)
    first_search: Latency | None = None  # each scope's first (warm-up) search: loads its partitions
    stats: dict[str, Any] = field(default_factory=dict)
    aggregates: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    questions_file: str | None = None


@dataclass
class QualityResult:
    dataset: str
    source: str
    started_at: str
    finished_at: str = ""
    duration_s: float = 0.0
    machine: dict[str, Any] = field(default_factory=dict)
    embedder: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    systems: dict[str, SystemRun] = field(default_factory=dict)
    headline: list[tuple[str, str]] = field(default_factory=list)
    curves: list[tuple[str, str, str]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    breakdown: list[str] = field(default_factory=list)
    targets: list[tuple[str, str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
