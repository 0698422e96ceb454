"""`memoryd bench gateway` end to end at toy sizes: every path measured, nothing failed."""

from __future__ import annotations

from pathlib import Path

from memoryd.bench.gateway import GatewayBenchConfig, report_table, run_gateway_bench


def test_a_small_gateway_bench_measures_every_path(tmp_path: Path) -> None:
    cfg = GatewayBenchConfig(
        memories=100, pool=100, requests=6, warmup=1, rate=20, duration_s=1, concurrency=4, workdir=tmp_path
    )
    result = run_gateway_bench(cfg)
    doc = result.to_dict()
    for path in ("direct", "through", "passthrough", "memory_ms", "ttfb_direct", "ttfb_through"):
        assert doc[path]["n"] == 6 and doc[path]["p95_ms"] >= doc[path]["p50_ms"] > 0, path
    assert doc["injected_mean"] > 0  # calls through memoryd really carried memories
    assert doc["sustained"]["errors"] == 0 and doc["sustained"]["ok"] == doc["sustained"]["sent"] > 0
    assert set(doc["targets"]) == {"added_p95_ms", "ttfb_added_p95_ms", "rate_per_s"}
    assert doc["others_cpu_share"] is None or 0.0 <= doc["others_cpu_share"] <= 1.0
    assert report_table(result).row_count > 0
