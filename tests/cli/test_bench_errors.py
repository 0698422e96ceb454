"""``memoryd bench pipeline``: a --workdir not made yet is made; a failure under --json is a JSON
error document (here: a Redis nobody listens on, which fails before any worker starts)."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Run, as_json


def test_bench_pipeline_makes_its_workdir_and_reports_a_failure_as_json(run: Run, tmp_path: Path) -> None:
    workdir = tmp_path / "not" / "made" / "yet"
    result = run(
        "bench", "pipeline", "--json", "--workdir", str(workdir), "--redis-url", "redis://127.0.0.1:1/0",
        "--events", "3", "--e2e-events", "1", "--duration", "1", "--rate", "1",
    )  # fmt: skip
    assert result.exit_code == 1
    error = as_json(result)["error"]
    assert error["message"].startswith("bench pipeline failed: ") and "unreachable" in error["message"]
    assert "bench pipeline failed" in result.stderr and "Traceback" not in result.stderr
    assert workdir.is_dir() and list(workdir.iterdir()) == []  # made; the run's scratch dir removed
