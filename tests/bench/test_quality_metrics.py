"""Retrieval metrics and the two datasets' scorers on small cases worked out by hand."""

from __future__ import annotations

import math

import pytest

from memoryd.bench.quality.data import Question, Turn
from memoryd.bench.quality.locomo import score_locomo
from memoryd.bench.quality.longmemeval import score_longmemeval
from memoryd.bench.quality.metrics import (
    all_at,
    any_at,
    dedupe,
    first_rank,
    fraction_at,
    mean,
    ndcg_at,
    ndcg_lme_at,
)

RANKED = ["x", "g1", "y", "g2", "z"]
GOLD = {"g1", "g2"}


def test_any_all_fraction_at_k() -> None:
    assert [any_at(RANKED, GOLD, k) for k in (1, 2, 5)] == [0.0, 1.0, 1.0]
    assert [all_at(RANKED, GOLD, k) for k in (1, 2, 3, 4, 5)] == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert [fraction_at(RANKED, GOLD, k) for k in (1, 2, 3, 4)] == [0.0, 0.5, 0.5, 1.0]
    # k beyond the list looks at what there is
    assert all_at(["g1"], GOLD, 10) == 0.0 and fraction_at(["g1"], GOLD, 10) == 0.5


def test_textbook_ndcg_by_hand() -> None:
    # hits at ranks 2 and 4: (1/log2 3 + 1/log2 5) / (1 + 1/log2 3) = 1.061606 / 1.630930
    assert ndcg_at(RANKED, GOLD, 4) == pytest.approx(0.650921, abs=1e-6)
    assert ndcg_at(RANKED, GOLD, 1) == 0.0
    assert ndcg_at(["g1", "g2"], GOLD, 10) == pytest.approx(1.0)
    # one gold at rank 3: (1/log2 4) / 1 = 0.5
    assert ndcg_at(["a", "b", "g"], {"g"}, 10) == pytest.approx(0.5)
    # the ideal list holds min(k, |gold|) hits: 1 / (1 + 1/log2 3)
    assert ndcg_at(["g1"], GOLD, 10) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_longmemeval_ndcg_variant_by_hand() -> None:
    # LongMemEval: rank 1 gains 1, rank r >= 2 gains 1/log2 r. Ranks 2 and 4: (1 + 1/2) / (1 + 1) = 0.75
    assert ndcg_lme_at(RANKED, GOLD, 4) == pytest.approx(0.75)
    # one gold at rank 2 is as good as rank 1
    assert ndcg_lme_at(["a", "g"], {"g"}, 10) == pytest.approx(1.0)
    # one gold at rank 3: 1/log2 3
    assert ndcg_lme_at(["a", "b", "g"], {"g"}, 10) == pytest.approx(1 / math.log2(3))
    assert ndcg_lme_at(["g1"], GOLD, 10) == pytest.approx(0.5)
    assert ndcg_lme_at(["a"], {"g"}, 5) == 0.0


def test_helpers() -> None:
    assert dedupe(["s1", "s2", "s1", "s3", "s2"]) == ["s1", "s2", "s3"]
    assert first_rank(RANKED, GOLD) == 2 and first_rank(RANKED, {"nope"}) is None
    assert mean([1.0, 0.0, 0.5]) == 0.5 and mean([]) is None
    with pytest.raises(ValueError):
        any_at(RANKED, GOLD, 0)


def _turn(key: str, session: str, role: str = "user") -> Turn:
    return Turn(key, key, session, role, None, f"text of {key}")


def test_locomo_scorer_turns_and_sessions() -> None:
    ranked = [_turn("D2:1", "session_2"), _turn("D1:3", "session_1"), _turn("D1:1", "session_1")]
    question = Question(
        "q", "?", "category 1 (multi-hop)", "", frozenset({"D1:1", "D1:3"}), frozenset({"session_1"}),
        ("all", "cat 1-4"),
    )  # fmt: skip
    got = score_locomo(question, ranked, (1, 2, 3))
    assert got["turn.any@1"] == 0.0 and got["turn.any@2"] == 1.0
    assert got["turn.fraction@2"] == 0.5 and got["turn.fraction@3"] == 1.0
    assert got["session.any@1"] == 0.0 and got["session.any@2"] == 1.0  # sessions: [2, 1]
    no_evidence = Question("q2", "?", "category 5 (adversarial)", "", frozenset(), frozenset(), ())
    assert score_locomo(no_evidence, ranked, (1,)) == {}


def test_longmemeval_scorer_both_protocols() -> None:
    ranked = [
        _turn("s1_1", "s1"),
        _turn("s2_2", "s2", "assistant"),
        _turn("s2_1", "s2"),
        _turn("s3_1", "s3"),
    ]
    question = Question(
        "q", "?", "multi-session", "", frozenset({"s2_1"}), frozenset({"s2"}), ("all", "multi-session"),
        {"abstention": False},
    )  # fmt: skip
    got = score_longmemeval(question, ranked, (1, 2))
    # sessions by first appearance: s1, s2, s3
    assert got["session.recall_any@1"] == 0.0 and got["session.recall_any@2"] == 1.0
    assert got["session.recall_all@2"] == 1.0
    assert got["session.ndcg@2"] == pytest.approx(1 / math.log2(3))
    # official: the assistant turn is dropped, user turns s1_1, s2_1, s3_1; gold at rank 2
    assert got["official.recall_all@1"] == 0.0 and got["official.recall_all@2"] == 1.0
    assert got["official.ndcg_any@2"] == pytest.approx(1.0)
    assistant_only = Question(
        "q2", "?", "single-session-assistant", "", frozenset(), frozenset({"s2"}), ("all",), {"abstention": False}
    )
    got = score_longmemeval(assistant_only, ranked, (1,))
    assert "session.recall_any@1" in got and not any(k.startswith("official.") for k in got)
    abstention = Question("q_abs", "?", "x", "", frozenset(), frozenset({"s2"}), (), {"abstention": True})
    assert score_longmemeval(abstention, ranked, (1,)) == {}
