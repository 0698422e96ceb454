"""A bad list of integers given to ``memoryd bench`` is refused with an example of that option's own.

Before: ``--k``, ``--sizes`` and ``--mem0-sizes`` all said "expected positive integers like
1000,10k,1M", store sizes even for ``--k`` (cut-offs like 1,5,10). Now each names itself and gives
an example that fits it; the command line is wrong (exit 2) and nothing runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memoryd.cli import app
from tests.bench.test_quality_cli import _locomo


def _refusal(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    return " ".join(result.stderr.replace("│", " ").split())  # the box typer draws, unwrapped


def test_a_bad_k_is_refused_with_cut_offs_as_the_example(tmp_path: Path) -> None:
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps(_locomo()), encoding="utf-8")
    said = _refusal(
        ["bench", "locomo", "--data", str(data), "--system", "bm25", "--no-progress", "--k", "5,0"]
    )
    assert "--k takes positive integers like 1,5,10; got '0'" in said
    assert "1M" not in said


@pytest.mark.parametrize(
    ("option", "example"), [("--sizes", "1k,10k,100k"), ("--mem0-sizes", "1000,10000")]
)
def test_bad_store_sizes_are_refused_with_sizes_as_the_example(option: str, example: str) -> None:
    said = _refusal(["bench", "speed", option, "10k,ten", "--no-progress"])
    assert f"{option} takes positive integers like {example}; got 'ten'" in said
