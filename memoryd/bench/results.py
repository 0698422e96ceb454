"""What ``memoryd bench speed`` produces: result records, progress hook, machine facts.

Plain dataclasses, so a :class:`SpeedResult` turns into JSON with
:func:`dataclasses.asdict` and back into a table in :mod:`memoryd.bench.report`.
Latencies are milliseconds, throughputs messages per second.
"""

from __future__ import annotations

import os
import platform
import resource
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = [
    "BatchResult",
    "CpuMeter",
    "Latency",
    "NoProgress",
    "Progress",
    "SearchTier",
    "SpeedResult",
    "Throughput",
    "load_average",
    "machine_info",
    "process_cpu",
    "tier_name",
]


@dataclass
class Latency:
    """Per-call latencies in milliseconds."""

    n: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    samples_ms: list[float] = field(repr=False)

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ms = np.asarray(seconds, dtype=np.float64) * 1000.0
        p50, p95 = np.percentile(ms, [50, 95])
        r = lambda x: round(float(x), 3)  # noqa: E731
        return cls(len(ms), r(p50), r(p95), r(ms.mean()), r(ms.min()), r(ms.max()), [r(x) for x in ms])


@dataclass
class Throughput:
    messages: int
    seconds: float
    per_s: float

    @classmethod
    def of(cls, messages: int, seconds: float) -> Throughput:
        return cls(messages, round(seconds, 4), round(messages / seconds, 1))


@dataclass
class BatchResult:
    batch_size: int
    embedder_raw: Throughput
    memoryd: Throughput
    ratio_vs_raw: float
    mem0: Throughput | None = None
    # CPU milliseconds per batch (:mod:`memoryd.bench.threads`): the embedder alone, and memoryd's
    # add by thread role ("model", "event loop", "sqlite writer", "checkpoint", …, "total").
    embedder_raw_cpu_ms: float | None = None
    memoryd_cpu_ms: dict[str, float] | None = None


@dataclass
class SearchTier:
    name: str
    memories: int
    users: int
    load: str  # "api-add" (public add, pooled embeddings) or "bulk-commit" (Storage.commit)
    load_s: float
    memoryd: Latency
    memoryd_cold: Latency | None = None
    breakdown: dict[str, Latency] | None = None
    mem0: Latency | None = None
    mem0_load_s: float | None = None
    context: Latency | None = None  # AsyncMemory.context() (default budget), single-user tiers


@dataclass
class SpeedResult:
    started_at: str
    finished_at: str
    duration_s: float
    machine: dict[str, Any]
    embedder: dict[str, Any]
    config: dict[str, Any]
    systems: dict[str, str]
    single_add: dict[str, Latency] = field(default_factory=dict)
    batch: BatchResult | None = None
    search: list[SearchTier] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Progress(Protocol):
    """Where long steps report: ``with progress.task("…", total) as advance: advance(n)``."""

    def task(
        self, description: str, total: int | None = None
    ) -> AbstractContextManager[Callable[[int], None]]: ...


class NoProgress:
    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        yield lambda n: None


def tier_name(n: int) -> str:
    """1000 -> "1k", 1000000 -> "1M", 250 -> "250"."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas() -> str | None:
    try:
        config = np.show_config(mode="dicts")  # numpy >= 2
        return str(config["Build Dependencies"]["blas"]["name"])
    except Exception:  # noqa: BLE001 - purely informative
        return None


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used so far (Linux ``/proc``; else 0)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(children: bool = False, pids: Sequence[int] = ()) -> tuple[float, float, float] | None:
    """(busy CPU seconds of the whole machine, of this process — plus its finished children
    with ``children``, plus the live processes ``pids`` — monotonic time)."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            ticks = [int(x) for x in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    whose = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) if children else (resource.RUSAGE_SELF,)
    mine = sum(r.ru_utime + r.ru_stime for r in map(resource.getrusage, whose))
    mine += sum(process_cpu(pid) for pid in pids)
    busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    return busy, mine, time.monotonic()


class CpuMeter:
    """How much of the machine other processes used while the benchmark ran. The benchmark's own
    work is not "others": this process, with ``children`` its child processes (read the meter
    once they are joined), and the live processes ``pids`` (a server under test)."""

    def __init__(self, *, children: bool = False, pids: Sequence[int] = ()) -> None:
        self.children = children
        self.pids = tuple(pids)
        self.start = _cpu_seconds(children, self.pids)

    def others_share(self) -> float | None:
        """CPU time of other processes ÷ (wall time × cores): 0 is an idle machine."""
        end, start = _cpu_seconds(self.children, self.pids), self.start
        if end is None or start is None or end[2] <= start[2]:
            return None
        others = (end[0] - start[0]) - (end[1] - start[1])
        return round(max(0.0, others) / ((end[2] - start[2]) * (os.cpu_count() or 1)), 3)


def load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages: other work on the machine skews every figure."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    """Facts that explain the figures: CPU, cores, memory, Python and library versions."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        memory_gb = None
    return {
        "load_average": load_average(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gb": memory_gb,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "blas": _blas(),
        "sqlite": sqlite3.sqlite_version,
        "memoryd": _version("memoryd"),
        "mem0ai": _version("mem0ai"),
        "qdrant_client": _version("qdrant-client"),
    }
