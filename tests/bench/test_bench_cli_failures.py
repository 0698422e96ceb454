"""How ``memoryd bench`` fails, as a new user meets it: a dataset file of the wrong shape, an
``--out`` that cannot be written, Ctrl-C in the middle of a run.

Before: a file that was not JSON said only "Expecting value: line 1 column 1 (char 0)", and one
missing a field said "'sample_id'", naming neither the file nor what was wrong; with ``--json`` a
failed quality or speed run printed no JSON document; ``bench speed --out`` under a file ran the
whole benchmark and then ended in a traceback, its figures lost; Ctrl-C ended a run with a bare
newline (no "interrupted", no JSON document). Now: the file and the missing field are named, a
failure under ``--json`` is an error document (exit 1), an ``--out`` that cannot be written is
refused before the run (exit 2, nothing made), and Ctrl-C says "interrupted" (``{"interrupted":
true}`` with ``--json``), exit 130.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from memoryd.bench.quality.runner import QualityConfig, run_quality
from memoryd.cli import app
from tests.bench.test_quality_cli import _locomo

BAD_FILES = [
    ("locomo", "this is not json", "is not a JSON file"),
    ("locomo", [{"qa": []}], "is not a LoCoMo file: sample 0: it has no field 'sample_id'"),
    ("locomo", [{"sample_id": "a", "conversation": {}, "qa": [{"answer": "x"}]}], "no field 'question'"),
    ("longmemeval", [{"haystack_sessions": []}], "question 0: it has no field 'haystack_session_ids'"),
]


def _write(path: Path, content: Any) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


@pytest.mark.parametrize(("dataset", "content", "said"), BAD_FILES, ids=[s for _, _, s in BAD_FILES])
def test_a_dataset_file_of_the_wrong_shape_is_named_with_what_is_wrong(
    tmp_path: Path, dataset: str, content: Any, said: str
) -> None:
    data = _write(tmp_path / "data.json", content)
    args = ["bench", dataset, "--data", str(data), "--system", "bm25", "--no-progress", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 1, (result.stdout, result.stderr)
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "bench_failed" and str(data) in error["message"] and said in error["message"]
    assert said in result.stderr and "Traceback" not in result.stderr


def test_an_out_dir_that_cannot_be_made_is_refused_before_the_run(tmp_path: Path) -> None:
    data = _write(tmp_path / "locomo.json", _locomo())
    a_file = _write(tmp_path / "a-file", "x")
    for out, said in ((a_file / "report", "is a file, not a directory"), (a_file, "is a file; give a directory")):
        args = ["bench", "locomo", "--data", str(data), "--system", "bm25", "--no-progress", "--out", str(out)]
        result = CliRunner().invoke(app, [*args, "--json"])
        assert result.exit_code == 2, (result.stdout, result.stderr)
        error = json.loads(result.stdout)["error"]
        assert error["field"] == "out" and said in error["message"], error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "locomo.json"]


@pytest.mark.parametrize("command", ["speed", "load", "gateway"])
def test_an_out_file_that_cannot_be_written_is_refused_before_the_run(tmp_path: Path, command: str) -> None:
    a_file = _write(tmp_path / "a-file", "x")
    for out, said in ((a_file / "r.json", "is a file, not a directory"), (tmp_path, "is a directory; give a file")):
        result = CliRunner().invoke(app, ["bench", command, "--out", str(out), "--json"])
        assert result.exit_code == 2, (result.stdout, result.stderr)
        error = json.loads(result.stdout)["error"]
        assert error["field"] == "out" and said in error["message"], error
        assert "Traceback" not in result.stderr


def _big_locomo(sessions: int, turns: int) -> list[dict[str, Any]]:
    conversation: dict[str, Any] = {"speaker_a": "Ana", "speaker_b": "Ben"}
    for s in range(1, sessions + 1):
        conversation[f"session_{s}_date_time"] = "1:56 pm on 8 May, 2023"
        conversation[f"session_{s}"] = [
            {"speaker": "Ana" if t % 2 else "Ben", "dia_id": f"D{s}:{t}", "text": f"Turn {t} of session {s}: "
             f"we talked about topic number {s * 1000 + t} and what happened after it."}
            for t in range(1, turns + 1)
        ]  # fmt: skip
    qa = [{"question": "What did we talk about?", "answer": "topics", "evidence": ["D1:1"], "category": 1}]
    return [{"sample_id": "big", "conversation": conversation, "qa": qa}]


def test_ctrl_c_in_a_quality_run_says_interrupted_and_exits_130(tmp_path: Path) -> None:
    data = _write(tmp_path / "big.json", _big_locomo(40, 100))  # 4,000 turns: seconds of ingest
    out = tmp_path / "out"
    args = [sys.executable, "-m", "memoryd", "bench", "locomo", "--data", str(data), "--system", "memoryd",
            "--no-cache", "--no-progress", "--json", "--out", str(out), "--workdir", str(tmp_path / "work")]  # fmt: skip
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # not ignored, whoever runs pytest
    )  # fmt: skip
    try:
        while not (out / "memoryd.questions.jsonl").exists() and proc.poll() is None:
            time.sleep(0.05)  # the model is loaded and ingest has begun
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (stdout, stderr)
    assert json.loads(stdout) == {"interrupted": True}
    assert "interrupted" in stderr and str(out) in stderr and "Traceback" not in stderr
    assert not (out / "report.json").exists()


def test_a_report_dir_that_cannot_be_made_leaves_no_temp_store_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner made its temp work dir, then failed on ``out``, and never removed the dir."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    data = _write(tmp_path / "locomo.json", _locomo())
    a_file = _write(tmp_path / "a-file", "x")
    config = QualityConfig(dataset="locomo", data=data, out=a_file / "report", systems=("bm25",), cache=None)
    with pytest.raises(OSError):
        run_quality(config)
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize(("option", "said"), [("--cache", "is a file, not a directory"), ("--workdir", "is a file;")])
def test_a_cache_or_workdir_that_cannot_be_made_is_refused_before_the_run(
    tmp_path: Path, option: str, said: str
) -> None:
    """Was exit 1 after loading the dataset and the model: "[Errno 17] File exists: '…/a-file'"."""
    data = _write(tmp_path / "locomo.json", _locomo())
    a_file = _write(tmp_path / "a-file", "x")
    place = a_file / "c.sqlite" if option == "--cache" else a_file
    args = ["bench", "locomo", "--data", str(data), "--out", str(tmp_path / "o"), option, str(place), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    error = json.loads(result.stdout)["error"]
    assert error["field"] == option.lstrip("-") and said in error["message"], error
    assert not (tmp_path / "o").exists()


def test_a_file_name_with_an_emoji_code_is_printed_as_written(tmp_path: Path) -> None:
    # rich read ":smile:" in the failing file's name as 😄: the message named a file that is not there
    data = _write(tmp_path / "notes:smile:.json", "this is not json")
    args = ["bench", "locomo", "--data", str(data), "--system", "bm25", "--no-progress", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "notes:smile:.json" in result.stderr.replace("\n", "") and "😄" not in result.stderr
