"""``memoryd bench locomo`` and ``memoryd bench longmemeval`` end to end on tiny synthetic files."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from memoryd.bench.quality.data import Question
from memoryd.bench.quality.runner import QualityConfig, run_quality
from memoryd.bench.quality.systems import Retrieved
from memoryd.cli.bench import app

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None

FILLER = [
    "The weather was rainy all weekend so we stayed inside.",
    "My sister is visiting from Porto next month.",
    "Work has been hectic with the quarterly report.",
    "We tried a new Thai restaurant near the station.",
    "I've been reading a novel about sailors in the Arctic.",
    "The garden needs watering every evening now.",
]


def _locomo() -> list[dict[str, Any]]:
    def session(n: int, facts: list[str]) -> list[dict[str, Any]]:
        texts = [*facts, *FILLER]
        speakers = ["Ana", "Ben"]
        return [
            {"speaker": speakers[i % 2], "dia_id": f"D{n}:{i + 1}", "text": text} for i, text in enumerate(texts)
        ]

    conversation = {
        "speaker_a": "Ana",
        "speaker_b": "Ben",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": session(1, ["I adopted a golden retriever puppy named Biscuit yesterday."]),
        "session_2_date_time": "7:55 pm on 9 June, 2023",
        "session_2": session(2, ["I started taking cello lessons with a teacher from the conservatory."]),
        "session_3_date_time": "4:04 pm on 20 January, 2024",
        "session_3": session(3, ["We booked a hiking trip to the Dolomites for August."]),
    }
    qa = [
        {"question": "What is the name of Ana's golden retriever puppy?", "answer": "Biscuit",
         "evidence": ["D1:1"], "category": 4},
        {"question": "Which instrument does Ana take lessons for?", "answer": "cello",
         "evidence": ["D2:01"], "category": 1},
        {"question": "What did Ana say about her cat?", "adversarial_answer": "nothing",
         "evidence": [], "category": 5},
    ]  # fmt: skip
    return [{"sample_id": "conv-t", "conversation": conversation, "qa": qa}]


def _longmemeval() -> list[dict[str, Any]]:
    long_turn = "This is a very long pasted document about tides. " * 700  # > 32,000 characters
    assert len(long_turn) > 32_000

    def entry(qid: str, question: str) -> dict[str, Any]:
        filler = [[{"role": "user", "content": text}, {"role": "assistant", "content": "I see."}] for text in FILLER[:3]]
        answer = [
            {"role": "user", "content": "Hi, quick question about bike maintenance.", "has_answer": False},
            {"role": "assistant", "content": "Sure, what do you need?"},
            {"role": "user", "content": "I bought my new road bike at the Velo shop downtown.", "has_answer": True},
        ]
        return {
            "question_id": qid,
            "question_type": "single-session-user",
            "question": question,
            "answer": "Velo shop",
            "question_date": "2023/06/01 (Thu) 10:00",
            "haystack_session_ids": ["sharegpt_a_0", "ultrachat_b", "sharegpt_c_1", "answer_d_1", "sharegpt_e"],
            "haystack_dates": [f"2023/05/2{i} (Sat) 02:21" for i in range(5)],
            "haystack_sessions": [*filler, answer, [{"role": "user", "content": long_turn}]],
            "answer_session_ids": ["answer_d_1"],
        }

    return [entry("q1", "Where did I buy my road bike?"), entry("q2_abs", "Where did I buy my kayak?")]


def _run(tmp_path: Path, dataset: str, data: Any, *extra: str) -> tuple[dict[str, Any], Path]:
    path = tmp_path / f"{dataset}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    out = tmp_path / f"{dataset}-out"
    args = [dataset, "--data", str(path), "--system", "memoryd", "--system", "bm25", "--out", str(out),
            "--workdir", str(tmp_path / "work"), "--cache", str(tmp_path / "cache.sqlite"), "--no-progress",
            "--k", "1,3,10", "--json", *extra]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), out


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _reports_written(out: Path) -> None:
    for name in ("report.md", "report.json", "memoryd.questions.jsonl", "bm25.questions.jsonl"):
        assert (out / name).is_file(), name
    assert (out / "recall_at_k.png").is_file() == HAVE_MATPLOTLIB
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| metric | over | n | memoryd | bm25 | target |" in md


def test_locomo_end_to_end(tmp_path: Path) -> None:
    doc, out = _run(tmp_path, "locomo", _locomo())
    _reports_written(out)
    assert doc["schema"] == "memoryd.bench.quality/1" and doc["counts"]["questions"] == 3
    for system in ("memoryd", "bm25"):
        run = doc["systems"][system]
        assert run["status"] == "measured" and run["search"]["n"] == 3
        assert run["aggregates"]["all"]["turn.any@3"]["n"] == 2  # the question without evidence is not scored
        assert run["aggregates"]["cat 1-4"]["session.any@1"]["mean"] == 1.0
        records = {r["id"]: r for r in _lines(out / f"{system}.questions.jsonl")}
        dog = records["conv-t/q0"]
        assert dog["metrics"]["turn.any@3"] == 1.0 and dog["first_gold_session_rank"] == 1
        assert dog["gold_turns"] == ["D1:1"] and dog["retrieved"][0]["text"]
        assert any(hit["gold_turn"] and hit["turns"] == ["D1:1"] for hit in dog["retrieved"][:3])
        assert records["conv-t/q1"]["gold_turns"] == ["D2:1"]  # "D2:01" normalised
        assert records["conv-t/q2"]["scored"] is False and records["conv-t/q2"]["retrieved"]
    assert doc["systems"]["memoryd"]["stats"]["memories"] == 21
    rows = {r["metric"] + "/" + r["group"]: r for r in doc["summary"]}
    assert rows["turn.any@10/cat 1-4"]["target"] == 0.8


def test_longmemeval_end_to_end(tmp_path: Path) -> None:
    doc, out = _run(tmp_path, "longmemeval", _longmemeval())
    _reports_written(out)
    assert doc["settings"]["limits.max_message_chars"] > 32_000  # raised, the long turn is kept whole
    for system in ("memoryd", "bm25"):
        run = doc["systems"][system]
        everything = run["aggregates"]["all"]
        assert everything["session.recall_any@1"] == {"mean": 1.0, "n": 1}  # the abstention question is left out
        assert everything["official.recall_all@3"]["mean"] == 1.0
        records = {r["id"]: r for r in _lines(out / f"{system}.questions.jsonl")}
        assert records["q1"]["gold_turns"] == ["answer_d_1_3"]
        assert records["q1"]["retrieved"][0]["session"] == "answer_d_1"
        assert records["q2_abs"]["scored"] is False
    assert doc["systems"]["memoryd"]["stats"]["memories"] == 2 * 10  # every turn, the long one too
    assert doc["systems"]["memoryd"]["stats"]["embedding_cache"]["misses"] > 0


def test_a_second_run_is_served_by_the_embedding_cache(tmp_path: Path) -> None:
    _run(tmp_path, "locomo", _locomo())
    doc, _ = _run(tmp_path, "locomo", _locomo())
    cache = doc["systems"]["memoryd"]["stats"]["embedding_cache"]
    assert cache["misses"] == 0 and cache["hits"] > 0  # (texts seen a moment ago never reach it)


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["locomo", "--data", "/nonexistent/locomo.json"], "--data"),
        (["longmemeval", "--data", "/nonexistent/lme.json.gz"], "--data"),
        (["locomo", "--system", "memoryd,faiss"], "--system"),
        (["locomo", "--k", "0"], "--k"),
        (["longmemeval", "--set", "search.nope=1"], "--set"),
    ],
)
def test_cli_rejects_bad_options(tmp_path: Path, args: list[str], hint: str) -> None:
    if "--data" not in args:  # a valid file, so the option under test is the one refused
        data = tmp_path / f"{args[0]}.json"
        data.write_text(json.dumps(_locomo() if args[0] == "locomo" else _longmemeval()), encoding="utf-8")
        args = [*args, "--data", str(data)]
    # A wide terminal, so the error panel never elides the option name.
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 2
    assert hint in result.output


class GradeByFirstHit:
    """An answerer standing in for the future LLM QA mode: 'correct' when the gold session comes first."""

    async def __call__(self, question: Question, hits: Sequence[Retrieved]) -> dict[str, Any]:
        return {"answer": hits[0].text if hits else "", "scores": {"first_hit": 1.0 if hits else 0.0}}


def test_answerer_extension_point(tmp_path: Path) -> None:
    path = tmp_path / "lme.json"
    path.write_text(json.dumps(_longmemeval()), encoding="utf-8")
    config = QualityConfig("longmemeval", path, tmp_path / "out", systems=("bm25",), cache=None, ks=(1, 5))
    result = run_quality(config, answerer=GradeByFirstHit())
    assert result.systems["bm25"].aggregates["all"]["qa.first_hit"] == {"mean": 1.0, "n": 1}
    records = _lines(tmp_path / "out" / "bm25.questions.jsonl")
    assert records[0]["qa"]["answer"].startswith("I bought my new road bike")
    assert result.embedder == {}  # BM25 alone loads no model
