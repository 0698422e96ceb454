"""Dataset loaders on tiny hand-written files: dates, evidence ids, aliases, gold sets."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from memoryd.bench.quality.locomo import load_locomo, normalise_evidence, parse_locomo_date
from memoryd.bench.quality.longmemeval import load_longmemeval, parse_lme_date


def test_locomo_dates() -> None:
    assert parse_locomo_date("1:56 pm on 8 May, 2023") == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert parse_locomo_date("12:48 am on 1 February, 2023") == datetime(2023, 2, 1, 0, 48, tzinfo=UTC)
    with pytest.raises(ValueError, match="LoCoMo date"):
        parse_locomo_date("2023-05-08")


def test_longmemeval_dates() -> None:
    assert parse_lme_date("2023/05/20 (Sat) 02:21") == datetime(2023, 5, 20, 2, 21, tzinfo=UTC)
    assert parse_lme_date("2023/03/27 (Mon) 23:35") == datetime(2023, 3, 27, 23, 35, tzinfo=UTC)
    with pytest.raises(ValueError, match="LongMemEval date"):
        parse_lme_date("May 20")


def test_evidence_ids_are_normalised() -> None:
    raw = ["D8:6; D9:17", "D:11:26", "D30:05", "D", "D1:3", "D1:3", "D2:4,D2:5"]
    assert normalise_evidence(raw) == ["D8:6", "D9:17", "D11:26", "D30:5", "D1:3", "D2:4", "D2:5"]
    assert normalise_evidence([]) == []


def locomo_sample() -> dict[str, Any]:
    return {
        "sample_id": "conv-1",
        "conversation": {
            "speaker_a": "Ana",
            "speaker_b": "Ben",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"speaker": "Ana", "dia_id": "D1:1", "text": "I adopted a golden retriever named Biscuit."},
                {"speaker": "Ben", "dia_id": "D1:2", "text": "Lovely!", "blip_caption": "a photo of a dog"},
            ],
            "session_2_date_time": "7:55 pm on 9 June, 2023",
            "session_2": [
                {"speaker": "Ana", "dia_id": "D2:1", "text": "I started learning the cello."},
                {"speaker": "Ben", "dia_id": "D2:2", "text": ""},
            ],
        },
        "qa": [
            {"question": "What is the dog called?", "answer": "Biscuit", "evidence": ["D1:1"], "category": 4},
            {"question": "Pets and music?", "answer": "x", "evidence": ["D1:1; D2:01", "D9:9"], "category": 1},
            {"question": "Trick?", "adversarial_answer": "none", "evidence": [], "category": 5},
            {"question": "Adversarial with evidence", "answer": "y", "evidence": ["D2:1"], "category": 5},
        ],
    }


def test_locomo_loader(tmp_path: Path) -> None:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([locomo_sample(), {**locomo_sample(), "sample_id": "conv-2"}]))
    bench = load_locomo(path)
    assert [u.user_id for u in bench.units] == ["conv-1", "conv-2"]
    unit = bench.units[0]
    s1, s2 = unit.sessions
    assert s1.id == "session_1" and s1.date == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert [(t.key, t.role, t.speaker) for t in s1.turns] == [("D1:1", "user", "Ana"), ("D1:2", "assistant", "Ben")]
    assert s1.turns[1].text == "Lovely! [image: a photo of a dog]"
    assert [t.key for t in s2.turns] == ["D2:1"]  # the empty turn is not ingested
    q_dog, q_multi, q_trick, q_adv = unit.questions
    assert q_dog.gold_turns == {"D1:1"} and q_dog.gold_sessions == {"session_1"}
    assert q_dog.groups == ("all", "cat 1-4", "category 4 (single-hop)")
    assert q_multi.gold_turns == {"D1:1", "D2:1"}  # D9:9 names no turn: dropped
    assert q_multi.gold_sessions == {"session_1", "session_2"}
    assert q_trick.groups == () and q_trick.answer == "none"
    assert q_adv.groups == ("all", "category 5 (adversarial)")
    assert any("dropped): 2" in n for n in bench.notes)  # D9:9 in each of the two conversations
    assert load_locomo(path, limit=1).units == bench.units[:1]


def lme_entry(qid: str, answer_turn: str, *, long_turn: str = "ok") -> dict[str, Any]:
    return {
        "question_id": qid,
        "question_type": "single-session-user",
        "question": "Where did I buy my bike?",
        "answer": "Velo shop",
        "question_date": "2023/06/01 (Thu) 10:00",
        "haystack_session_ids": ["sharegpt_abc_1", "answer_xyz_1"],
        "haystack_dates": ["2023/05/20 (Sat) 02:21", "2023/05/21 (Sun) 09:00"],
        "haystack_sessions": [
            [{"role": "user", "content": "Tell me a joke."}, {"role": "assistant", "content": long_turn}],
            [
                {"role": "user", "content": "Hi there", "has_answer": False},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": answer_turn, "has_answer": True},
                {"role": "user", "content": "   "},
            ],
        ],
        "answer_session_ids": ["answer_xyz_1"],
    }


def test_longmemeval_loader_hides_labels(tmp_path: Path) -> None:
    path = tmp_path / "lme.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        json.dump([lme_entry("q1", "I bought my bike at Velo shop."), lme_entry("q2_abs", "nothing")], fh)
    bench = load_longmemeval(path)
    assert len(bench.units) == 2
    unit = bench.units[0]
    question = unit.questions[0]
    assert question.gold_sessions == {"answer_xyz_1"}
    assert question.gold_turns == {"answer_xyz_1_3"}  # official ids: session id + turn number from 1
    assert question.groups == ("all", "single-session-user")
    assert question.extra["official_scored"] is True
    second = unit.sessions[1]
    assert second.date == datetime(2023, 5, 21, 9, 0, tzinfo=UTC)
    assert [t.key for t in second.turns] == ["answer_xyz_1_1", "answer_xyz_1_2", "answer_xyz_1_3"]
    # what systems see carries no label
    seen = [unit.user_id] + [s.alias for s in unit.sessions] + [t.alias for s in unit.sessions for t in s.turns]
    assert not any("answer" in x or "sharegpt" in x or "abs" in x for x in seen)
    assert bench.units[1].questions[0].groups == () and bench.units[1].questions[0].extra["abstention"]
    assert any("abstention (not scored): 1" in n for n in bench.notes)
    assert any("empty content" in n for n in bench.notes)


def test_loaders_reject_the_wrong_file(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"not": "a list"}))
    with pytest.raises(ValueError, match="not a LoCoMo file"):
        load_locomo(path)
    with pytest.raises(ValueError, match="not a LongMemEval file"):
        load_longmemeval(path)
