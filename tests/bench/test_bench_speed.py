"""``memoryd bench speed`` end to end on tiny sizes: the function, the CLI, the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from memoryd.bench.mem0_baseline import mem0_available
from memoryd.bench.report import print_report, summary_rows, to_json
from memoryd.bench.results import BatchResult, Latency, SearchTier, SpeedResult, Throughput
from memoryd.bench.speed import SpeedConfig, run_speed
from memoryd.cli.bench import app

HAVE_MEM0 = mem0_available()


def _positive(section: dict[str, Any], *keys: str) -> None:
    for key in keys:
        assert section[key] > 0, (key, section)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> SpeedResult:
    """One tiny run of every part (mem0 too when it is installed)."""
    workdir = tmp_path_factory.mktemp("bench")
    config = SpeedConfig(
        sizes=(20, 40), multi_user=True, users=3, per_user=10, queries=3, warmup=1, single_adds=3,
        batch_size=4, batch_messages=8, systems=("memoryd", "mem0") if HAVE_MEM0 else ("memoryd",),
        mem0_sizes=(20,), api_load_max=20, breakdown=1, workdir=workdir,
    )  # fmt: skip
    result = run_speed(config)
    assert list(workdir.iterdir()) == []  # every store removed once measured
    return result


def test_run_speed_measures_every_part(tiny: SpeedResult) -> None:
    doc = to_json(tiny)
    json.dumps(doc)  # plain data
    assert doc["schema"] == "memoryd.bench.speed/1"
    _positive(doc["single_add"]["memoryd"], "n", "p50_ms", "p95_ms", "mean_ms")
    assert len(doc["single_add"]["memoryd"]["samples_ms"]) == 3
    batch = doc["batch"]
    for side in ("embedder_raw", "memoryd"):
        _positive(batch[side], "messages", "seconds", "per_s")
    assert batch["ratio_vs_raw"] > 0
    # where the batches' CPU went: the model and memoryd's own threads, the embedder alone
    cpu = batch["memoryd_cpu_ms"]
    assert cpu["model"] > 0 and cpu["event loop"] > 0 and cpu["sqlite writer"] > 0
    assert cpu["total"] >= cpu["model"] + cpu["event loop"] + cpu["sqlite writer"] - 0.05
    assert batch["embedder_raw_cpu_ms"] > 0
    tiers = {t["name"]: t for t in doc["search"]}
    assert set(tiers) == {"20", "40", "30/3 users"}
    assert [tiers[n]["load"] for n in ("20", "40", "30/3 users")] == [
        "api-add",
        "bulk-commit",
        "bulk-commit",
    ]
    for tier in tiers.values():
        _positive(tier["memoryd"], "p50_ms", "p95_ms")
        assert tier["memoryd"]["n"] == 3
        assert set(tier["breakdown"]) == {"embed", "keyword", "vector", "fetch"}
        for part in tier["breakdown"].values():
            _positive(part, "p50_ms")
    _positive(tiers["30/3 users"]["memoryd_cold"], "p50_ms")
    assert tiers["30/3 users"]["users"] == 3
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["python"] and doc["machine"]["numpy"]
    assert doc["embedder"]["name"] == "use-multilingual-v3" and doc["embedder"]["dim"] == 512
    assert doc["started_at"] < doc["finished_at"]
    assert any("bulk-loaded through Storage.commit" in n for n in doc["notes"])
    assert doc["summary"] and all(row["memoryd"] is not None for row in doc["summary"])


@pytest.mark.skipif(not HAVE_MEM0, reason="mem0ai is not installed (the bench extra)")
def test_mem0_is_measured_alongside(tiny: SpeedResult) -> None:
    doc = to_json(tiny)
    assert doc["systems"]["mem0"] == "measured"
    _positive(doc["single_add"]["mem0"], "p50_ms", "p95_ms")
    _positive(doc["batch"]["mem0"], "per_s")
    tiers = {t["name"]: t for t in doc["search"]}
    _positive(tiers["20"]["mem0"], "p50_ms", "p95_ms")
    assert tiers["40"]["mem0"] is None  # bulk tiers are memoryd only
    rows = {r["metric"]: r for r in doc["summary"]}
    assert rows["single add, median"]["ratio"] > 0


def test_report_table_renders(tiny: SpeedResult) -> None:
    console = Console(record=True, width=200)
    print_report(tiny, console)
    text = console.export_text()
    for needle in ("single add, median", "batch ingest ÷ raw embedder", "search p95 @ 40",
                   "30/3 users, cold", "where search time goes", "bulk-commit"):  # fmt: skip
        assert needle in text


def test_report_prints_notes_and_states_as_written(tiny: SpeedResult) -> None:
    import dataclasses

    hint = "skipped: mem0 is not installed (pip install 'memoryd[bench]')"
    result = dataclasses.replace(tiny, systems={**tiny.systems, "mem0": hint}, notes=["[red] stays text"])
    console = Console(record=True, width=200)
    print_report(result, console)
    text = console.export_text()
    assert "pip install 'memoryd[bench]'" in text and "[red] stays text" in text  # not read as markup


def _lat(p50: float, p95: float) -> Latency:
    return Latency(1, p50, p95, p50, p50, p95, [p50])


def test_summary_rows_apply_the_targets() -> None:
    tiers = [
        SearchTier("10k", 10_000, 1, "api-add", 1.0, _lat(4, 7.9), mem0=_lat(40, 80)),
        SearchTier("100k", 100_000, 1, "bulk-commit", 1.0, _lat(9, 16)),
        SearchTier("1M/1000 users", 1_000_000, 1000, "bulk-commit", 1.0, _lat(5, 19), _lat(20, 30)),
    ]
    batch = BatchResult(64, Throughput.of(100, 0.1), Throughput.of(90, 0.1), 0.9)
    adds = {"memoryd": _lat(5, 9), "mem0": _lat(15, 20)}
    result = SpeedResult("a", "b", 1.0, {}, {}, {}, {"memoryd": "measured"}, adds, batch, tiers)
    rows = {r.metric: r for r in summary_rows(result)}
    assert rows["single add, median"].passed is True and rows["single add, median"].ratio == 3.0
    assert rows["batch ingest ÷ raw embedder"].passed is True
    assert rows["search p95 @ 10k"].passed is True and rows["search p95 @ 10k"].ratio == 10.13
    assert rows["search p95 @ 100k"].passed is False
    assert rows["search p95 @ 1M/1000 users"].passed is True
    assert rows["search p95 @ 1M/1000 users, cold"].target is None


def test_cli_speed_writes_json_and_prints_the_table(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    args = ["speed", "--sizes", "20", "--queries", "2", "--warmup", "1", "--single-adds", "1",
            "--batch-size", "4", "--batch-messages", "8", "--systems", "memoryd", "--breakdown", "1",
            "--set", "storage.synchronous=NORMAL", "--out", str(out), "--workdir", str(tmp_path)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "single add, median" in result.output and "search p95 @ 20" in result.output
    doc = json.loads(out.read_text())
    assert doc["config"]["overrides"] == {"storage": {"synchronous": "NORMAL"}}
    assert doc["systems"]["mem0"] == "skipped: not requested"
    assert doc["search"][0]["memoryd"]["p95_ms"] > 0


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--sizes", "ten"], "--sizes"),
        (["--systems", "mem0"], "--systems"),
        (["--set", "storage.nope=1"], "--set"),
        (["--embedder", "bert"], "--embedder"),
    ],
)
def test_cli_rejects_bad_options(args: list[str], hint: str) -> None:
    result = CliRunner().invoke(app, ["speed", *args])
    assert result.exit_code == 2
    assert hint in result.output


def test_cli_json_mode_prints_one_document() -> None:
    args = ["speed", "--sizes", "10", "--queries", "3", "--warmup", "0", "--single-adds", "2",
            "--batch-messages", "0", "--systems", "memoryd", "--breakdown", "0", "--no-progress", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "memoryd.bench.speed/1" and doc["batch"] is None
    assert doc["search"][0]["breakdown"] is None and doc["search"][0]["memoryd"]["n"] == 3


def test_speed_runs_on_a_vector_index_in_a_server_and_leaves_no_table_behind(tmp_path: Path) -> None:
    """``--set storage.vectors=postgres --set storage.postgres.url=…``: each store the bench
    builds gets a table of its own (one table refuses a second store), dropped once measured."""
    import asyncio

    import psycopg

    from tests.storage.postgres_server import postgres_url

    url = postgres_url()
    args = ["speed", "--sizes", "20", "--queries", "2", "--warmup", "1", "--single-adds", "1",
            "--batch-size", "4", "--batch-messages", "8", "--systems", "memoryd", "--breakdown", "1",
            "--no-context", "--set", "storage.vectors=postgres", "--set", f"storage.postgres.url={url}",
            "--json", "--workdir", str(tmp_path)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["config"]["overrides"]["storage"]["vectors"] == "postgres"
    assert doc["search"][0]["memoryd"]["p95_ms"] > 0 and doc["batch"]["memoryd"]["per_s"] > 0

    async def bench_tables() -> list[str]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            cursor = await conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'memoryd_bench_%'")
            return [r[0] for r in await cursor.fetchall()]

    assert asyncio.run(bench_tables()) == []
