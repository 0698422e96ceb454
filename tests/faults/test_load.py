"""Concurrent clients against a real server: no request fails, and the load bench's figures hold up.

A short run of ``memoryd bench load`` (its own ``memoryd serve`` process on loopback); the
30-second run is the benchmark itself. Nothing here is timed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from memoryd.bench.load import LoadBenchConfig, OpStats, run_load_bench, slope

pytestmark = pytest.mark.slow


def test_slope_and_percentiles() -> None:
    assert slope([(0, 100), (30, 101), (60, 102)]) == 2.0  # MiB per minute
    assert slope([(0, 5)]) == 0.0
    stats = OpStats.of([i / 1000 for i in range(1, 101)], errors=1, duration=10)
    assert (stats.requests, stats.errors, stats.per_s) == (100, 1, 10.0)
    assert stats.p50_ms == 50.5 and stats.p99_ms == pytest.approx(99.01) and stats.max_ms == 100.0


def test_short_load_run_has_no_errors(tmp_path: Path) -> None:
    config = LoadBenchConfig(clients=6, duration_s=3, users=3, prefill=20, workdir=tmp_path)
    result = run_load_bench(config)
    assert result.errors == 0, result.error_examples
    assert all(result.ops[op].requests > 0 for op in ("add", "search", "context"))
    assert result.memories_before >= 60 and result.memories_added > 0  # episodes, and what rules derive
    assert len(result.rss_mib) >= 2 and result.rss_peak_mib >= result.rss_start_mib > 0
    assert (tmp_path / "load.db").exists()
