"""The QA mode of the quality benchmark against the scripted loopback LLM: answer, judge, report, CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from memoryd.bench.quality.data import Question
from memoryd.bench.quality.locomo import load_locomo
from memoryd.bench.quality.qa import (
    LLMJudgeQA,
    Verdict,
    answer_messages,
    build_qa,
    format_date,
    judge_messages,
)
from memoryd.bench.quality.systems import Retrieved
from memoryd.cli.bench import app
from memoryd.config import Settings, load_settings
from memoryd.llm import build_router
from tests.fakes.llm_server import Script

# No MEMORYD_* variable of the caller's shell leaks into a CLI run.
CLEAN_ENV: dict[str, str | None] = {
    "MEMORYD_CONFIG": None,
    "MEMORYD_LLM_MODEL": None,
    "MEMORYD_LLM_BASE_URL": None,
    "MEMORYD_LLM_API_KEY": None,
    "MEMORYD_LLM__MODEL": None,
    "MEMORYD_LLM__BASE_URL": None,
    "MEMORYD_LLM__TIERS": None,
    "MEMORYD_LLM_TIERS": None,
}


def _locomo() -> list[dict[str, Any]]:
    filler = ["The weather was rainy all weekend.", "Work has been hectic lately.", "We tried a Thai place."]

    def session(n: int, fact: str) -> list[dict[str, Any]]:
        return [
            {"speaker": ("Ana", "Ben")[i % 2], "dia_id": f"D{n}:{i + 1}", "text": text}
            for i, text in enumerate([fact, *filler])
        ]

    conversation = {
        "speaker_a": "Ana",
        "speaker_b": "Ben",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": session(1, "I adopted a golden retriever puppy named Biscuit yesterday."),
        "session_2_date_time": "7:55 pm on 9 June, 2023",
        "session_2": session(2, "I started taking cello lessons with a teacher from the conservatory."),
    }
    qa = [
        {"question": "What is the name of Ana's golden retriever puppy?", "answer": "Biscuit",
         "evidence": ["D1:1"], "category": 4},
        {"question": "Which instrument does Ana take lessons for?", "answer": "cello",
         "evidence": ["D2:1"], "category": 1},
        {"question": "When did Ana adopt her puppy?", "answer": "7 May 2023", "evidence": [], "category": 2},
        {"question": "What did Ana say about her cat?", "adversarial_answer": "nothing",
         "evidence": ["D1:2"], "category": 5},
    ]  # fmt: skip
    return [{"sample_id": "conv-q", "conversation": conversation, "qa": qa}]


def _settings(fake_llm: Script, **llm: Any) -> Settings:
    section = {
        "base_url": fake_llm.base_url,
        "model": "answer-model",
        "api_key": "k",
        "max_attempts": 1,
        **llm,
    }
    return load_settings(env={}, overrides={"llm": section})


def _qa(fake_llm: Script, **options: Any) -> LLMJudgeQA:
    qa = build_qa(_settings(fake_llm), dataset="locomo", **options)
    assert qa is not None
    return qa


def _question(category: int = 4, **extra: Any) -> Question:
    return Question(
        "conv-q/q0", "What is the name of Ana's puppy?", f"category {category}", "Biscuit",
        frozenset({"D1:1"}), frozenset({"session_1"}), ("all", "cat 1-4"), {"category": category, **extra},
    )  # fmt: skip


HITS = [Retrieved(("D1:1",), 0.9, "I adopted a golden retriever puppy named Biscuit yesterday.")]


def _content(fake_llm: Script, n: int) -> str:
    return "\n".join(m["content"] for m in fake_llm.requests[n].json["messages"])


# -- pure prompt building -----------------------------------------------------------------
def test_prompts_hold_the_memories_the_question_and_the_answers() -> None:
    messages = answer_messages(
        "Where?", ["[Monday 8 May 2023, 13:56] Ana: at home"], "Thursday 1 June 2023, 10:00"
    )
    user = messages[-1]["content"]
    assert "1. [Monday 8 May 2023, 13:56] Ana: at home" in user
    assert "Today is Thursday 1 June 2023, 10:00." in user and user.endswith("Question: Where?\nAnswer:")
    assert "(no memories found)" in answer_messages("Where?", [])[-1]["content"]
    judge = judge_messages("Where?", "at home", "home")[-1]["content"]
    assert judge == "Question: Where?\nGold answer: at home\nGenerated answer: home"
    assert format_date(datetime(2023, 5, 8, 13, 56, tzinfo=UTC)) == "Monday 8 May 2023, 13:56"


@pytest.mark.parametrize(
    ("raw", "label"),
    [("CORRECT", "CORRECT"), ("correct", "CORRECT"), (" Wrong. ", "WRONG"), ("`WRONG`", "WRONG")],
)
def test_verdict_labels_are_read_leniently(raw: str, label: str) -> None:
    assert Verdict.model_validate({"label": raw}).label == label


def test_a_verdict_must_be_correct_or_wrong() -> None:
    with pytest.raises(ValueError, match="label"):
        Verdict.model_validate({"label": "partially correct"})


def test_memory_lines_carry_session_date_and_speaker(tmp_path: Path, fake_llm: Script) -> None:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps(_locomo()), encoding="utf-8")
    router = build_router(_settings(fake_llm))
    assert router is not None
    qa = LLMJudgeQA(router, dataset="locomo", hits=2, memory_chars=30)
    assert qa.memory_lines([Retrieved(("D1:1",), 0.1, "before prepare")]) == ["before prepare"]
    qa.prepare(load_locomo(path))
    hits = [
        *HITS,
        Retrieved(("D2:2",), 0.5, "Work   has been\nhectic lately."),
        Retrieved(("x",), 0.1, "dropped"),
    ]
    assert qa.memory_lines(hits) == [
        "[Monday 8 May 2023, 13:56] Ana: I adopted a golden retriever p…",
        "[Friday 9 June 2023, 19:55] Ben: Work has been hectic lately.",
    ]
    assert qa.memory_lines([Retrieved(("unknown",), 0.1, "plain text")]) == ["plain text"]
    assert fake_llm.requests == []


# -- against the scripted LLM ----------------------------------------------------------------
async def test_answer_then_judge_correct(fake_llm: Script) -> None:
    fake_llm.reply_text(" Biscuit ", usage=(120, 3))
    fake_llm.reply_json({"reason": "same name", "label": "CORRECT"}, usage=(60, 9))
    async with _qa(fake_llm) as qa:
        result = await qa(_question(), HITS)
    assert result["answer"] == "Biscuit" and result["label"] == "CORRECT" and result["judged"] is True
    assert result["error"] is None and result["groups"] == ["cat 1-4", "category 4"]
    assert result["scores"] == {
        "failed": 0.0, "accuracy": 1.0, "prompt_tokens": 180, "completion_tokens": 12,
        "answer.prompt_tokens": 120, "answer.completion_tokens": 3,
    }  # fmt: skip
    assert result["usage"]["judge"] == {"prompt_tokens": 60, "completion_tokens": 9}
    assert len(fake_llm.requests) == 2
    assert "Biscuit yesterday." in _content(fake_llm, 0) and "puppy?" in _content(fake_llm, 0)
    judged = _content(fake_llm, 1)
    assert "Gold answer: Biscuit\nGenerated answer: Biscuit" in judged and "CORRECT" in judged
    assert {r.json["model"] for r in fake_llm.requests} == {"answer-model"}


async def test_a_wrong_answer_scores_zero(fake_llm: Script) -> None:
    fake_llm.reply_text("Rex")
    fake_llm.reply_text('```json\n{"label": "wrong"}\n```')  # a fenced, lower-case label is still read
    async with _qa(fake_llm) as qa:
        result = await qa(_question(), HITS)
    assert result["label"] == "WRONG" and result["scores"]["accuracy"] == 0.0
    assert result["scores"]["failed"] == 0.0


async def test_a_broken_judge_answer_is_a_failure_not_a_crash(fake_llm: Script) -> None:
    fake_llm.reply_text("Biscuit", usage=(100, 2))
    fake_llm.reply_text("Looks right to me!", usage=(50, 5))
    fake_llm.reply_text("I would say it is mostly right.", usage=(70, 6))  # the one re-ask, still no label
    async with _qa(fake_llm) as qa:
        result = await qa(_question(), HITS)
    assert result["judged"] is False and result["label"] is None and result["answer"] == "Biscuit"
    assert result["error"].startswith("judge: ")
    assert "accuracy" not in result["scores"] and result["scores"]["failed"] == 1.0
    assert result["scores"]["prompt_tokens"] == 220 and result["scores"]["completion_tokens"] == 13
    assert len(fake_llm.requests) == 3


async def test_an_unreachable_answerer_is_a_failure(fake_llm: Script) -> None:
    fake_llm.fail(500)
    async with _qa(fake_llm) as qa:
        result = await qa(_question(), HITS)
    assert result["answer"] is None and result["error"].startswith("answer: ")
    assert result["scores"]["failed"] == 1.0 and result["scores"]["prompt_tokens"] == 0
    assert len(fake_llm.requests) == 1  # no judge call without an answer


async def test_locomo_category_5_is_skipped(fake_llm: Script) -> None:
    async with _qa(fake_llm) as qa:
        result = await qa(_question(category=5), HITS)
    assert result["skipped"].startswith("category 5 is not judged") and result["scores"] == {}
    assert fake_llm.requests == []


async def test_longmemeval_question_date_and_abstention(fake_llm: Script) -> None:
    fake_llm.reply_text("You did not mention it.")
    fake_llm.reply_json({"label": "CORRECT"})
    qa = build_qa(_settings(fake_llm), dataset="longmemeval", hits=1)
    assert qa is not None
    question = _question(question_date="2023/06/01 (Thu) 10:00", abstention=True)
    async with qa:
        result = await qa(question, [*HITS, Retrieved(("y",), 0.1, "second hit, beyond --qa-hits")])
    assert result["groups"] == ["all", "category 4", "abstention"] and result["memories"] == 1
    prompt = _content(fake_llm, 0)
    assert "Today is Thursday 1 June 2023, 10:00." in prompt and "second hit" not in prompt


async def test_judge_model_is_used_for_the_judge_only(fake_llm: Script) -> None:
    fake_llm.reply_text("Biscuit")
    fake_llm.reply_json({"label": "CORRECT"})
    async with _qa(fake_llm, judge_model="judge-model") as qa:
        await qa(_question(), HITS)
        assert "judge-model" in qa.describe()
    assert [r.json["model"] for r in fake_llm.requests] == ["answer-model", "judge-model"]


def test_no_llm_configured_gives_no_answerer() -> None:
    assert build_qa(load_settings(env={}), dataset="locomo") is None


# -- the CLI, end to end on a tiny LoCoMo file ----------------------------------------------------
def _cli(tmp_path: Path, env: dict[str, str | None], *extra: str) -> Any:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps(_locomo()), encoding="utf-8")
    args = ["locomo", "--data", str(path), "--system", "bm25", "--out", str(tmp_path / "out"), "--no-cache",
            "--no-progress", "--k", "1,5", *extra]  # fmt: skip
    return CliRunner().invoke(app, args, env={**CLEAN_ENV, **env})


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_cli_qa_end_to_end(tmp_path: Path, fake_llm: Script) -> None:
    # Questions in order: q0 (cat 4), q1 (cat 1), q2 (cat 2, no evidence), q3 (cat 5: skipped).
    fake_llm.reply_text("Biscuit", usage=(100, 2)).reply_json({"label": "CORRECT"}, usage=(40, 4))
    fake_llm.reply_text("violin", usage=(100, 2)).reply_json({"label": "WRONG"}, usage=(40, 4))
    fake_llm.reply_text("7 May 2023", usage=(100, 2)).reply_text("no idea", usage=(40, 4), times=2)
    env = {"MEMORYD_LLM_BASE_URL": fake_llm.base_url, "MEMORYD_LLM_MODEL": "answer-model",
           "MEMORYD_LLM_API_KEY": "k"}  # fmt: skip
    result = _cli(tmp_path, env, "--qa", "--qa-hits", "3", "--json")
    assert result.exit_code == 0, result.output
    assert fake_llm.pending == 0 and len(fake_llm.requests) == 7
    doc = json.loads(result.stdout)
    cells = doc["systems"]["bm25"]["aggregates"]
    assert cells["cat 1-4"]["qa.accuracy"] == {"mean": 0.5, "n": 2}  # q2 failed: not judged
    assert cells["cat 1-4"]["qa.failed"] == {"mean": pytest.approx(1 / 3, abs=1e-5), "n": 3}
    assert cells["cat 1-4"]["qa.prompt_tokens"]["mean"] == pytest.approx(460 / 3, abs=1e-5)  # 140, 140, 180
    assert cells["category 4 (single-hop)"]["qa.accuracy"] == {"mean": 1.0, "n": 1}
    assert "qa.failed" not in cells.get("category 5 (adversarial)", {})
    assert cells["cat 1-4"]["turn.any@1"]["n"] == 2  # retrieval metrics still over questions with evidence
    qa = doc["qa"]
    assert qa["overall"] == "cat 1-4" and qa["failures"] == {"bm25": 1}
    rows = {r["group"]: r for r in qa["accuracy"]}
    assert rows["cat 1-4"]["values"] == {"bm25": 0.5} and rows["cat 1-4"]["judged"] == {"bm25": 2}
    assert rows["category 2 (temporal)"]["values"] == {"bm25": None}
    assert any(n.startswith("QA mode: answers by answer-model from the top 3 hits") for n in doc["notes"])
    records = {r["id"]: r["qa"] for r in _lines(tmp_path / "out" / "bm25.questions.jsonl")}
    assert records["conv-q/q0"]["label"] == "CORRECT" and records["conv-q/q1"]["label"] == "WRONG"
    assert records["conv-q/q2"]["judged"] is False and records["conv-q/q3"]["skipped"]
    assert "[Monday 8 May 2023, 13:56] Ana: I adopted" in _content(fake_llm, 0)
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "## QA accuracy (LLM judge)" in md
    assert "| cat 1-4 | 3 | 2 | 0.500 |" in md and "| LLM failures (not judged) | 1 |" in md
    assert "| prompt tokens per question | 153.3 |" in md


def test_cli_qa_without_an_llm_exits_2(tmp_path: Path, fake_llm: Script) -> None:
    result = _cli(tmp_path, {}, "--qa")
    assert result.exit_code == 2
    assert "MEMORYD_LLM_MODEL" in result.output and fake_llm.requests == []


def test_cli_judge_model_needs_qa(tmp_path: Path) -> None:
    result = _cli(tmp_path, {}, "--judge-model", "m")
    assert result.exit_code == 2 and "--judge-model" in result.output


def test_cli_qa_hits_beyond_the_search_limit(tmp_path: Path, fake_llm: Script) -> None:
    result = _cli(tmp_path, {"MEMORYD_LLM_BASE_URL": fake_llm.base_url, "MEMORYD_LLM_MODEL": "m"},
                  "--qa", "--qa-hits", "11")  # fmt: skip
    assert result.exit_code == 2 and "--qa-hits" in result.output


def test_cli_qa_reads_the_llm_from_the_root_config_file(tmp_path: Path, fake_llm: Script) -> None:
    from memoryd.cli.commands import app as root

    config = tmp_path / "memoryd.toml"
    config.write_text(
        f'[llm]\nbase_url = "{fake_llm.base_url}"\nmodel = "from-config"\napi_key = "k"\n', encoding="utf-8"
    )
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps(_locomo()), encoding="utf-8")
    fake_llm.default_json({"label": "CORRECT"})  # the answers too: any text will do
    args = ["--config", str(config), "bench", "locomo", "--data", str(path), "--system", "bm25", "--out",
            str(tmp_path / "out"), "--no-cache", "--no-progress", "--qa", "--limit", "1"]  # fmt: skip
    result = CliRunner().invoke(root, args, env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    assert "QA accuracy (LLM judge)" in result.output
    assert {r.json["model"] for r in fake_llm.requests} == {"from-config"} and len(fake_llm.requests) == 6
