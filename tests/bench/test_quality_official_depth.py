"""LongMemEval's official protocol ranks user turns only: the search must hold enough of them.

The official retriever indexes a question's user turns and ranks all of them. The harness
searches every turn and drops the assistant ones; when the search's ``max(k)`` hits are mostly
assistant turns, the user turns it scores were cut short by the search limit, not ranked low,
and official recall / nDCG came out too low. The harness now searches deeper until its hits hold
``max(k)`` user turns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memoryd.bench.quality.runner import QualityConfig, run_quality

GOLD = "I bought my bike at the shop on Main Street."


def _entry() -> dict[str, Any]:
    filler = [{"role": "user", "content": f"Tell me a joke about number {n}."} for n in range(20)]
    answer = [{"role": "user", "content": GOLD, "has_answer": True}]
    answer += [{"role": "assistant", "content": f"Bike shop, bike shop: tip {n}."} for n in range(15)]
    return {
        "question_id": "q1",
        "question_type": "single-session-user",
        "question": "Which bike shop?",
        "answer": "the shop on Main Street",
        "question_date": "2023/06/01 (Thu) 10:00",
        "haystack_session_ids": ["sharegpt_a_1", "answer_b_1"],
        "haystack_dates": ["2023/05/20 (Sat) 02:21", "2023/05/21 (Sun) 09:00"],
        "haystack_sessions": [filler, answer],
        "answer_session_ids": ["answer_b_1"],
    }


def test_official_metrics_rank_user_turns_past_the_assistant_ones(tmp_path: Path) -> None:
    data = tmp_path / "lme.json"
    data.write_text(json.dumps([_entry()]))
    config = QualityConfig("longmemeval", data, tmp_path / "out", systems=("bm25",), cache=None, ks=(1,))
    result = run_quality(config)
    figures = result.systems["bm25"].aggregates["all"]
    # Among user turns the gold one ranks first (the assistant turns outrank it, but are not
    # in the official corpus): official recall_any@1 and recall_all@10 are 1.
    assert figures["official.recall_any@1"] == {"mean": 1.0, "n": 1}
    assert figures["official.recall_all@10"] == {"mean": 1.0, "n": 1}
    assert figures["official.ndcg_any@1"]["mean"] == 1.0
    record = json.loads((tmp_path / "out" / "bm25.questions.jsonl").read_text())
    assert record["first_gold_turn_rank"] == 16  # after the 15 assistant turns: deeper than k = 10
    assert record["metrics"]["session.recall_any@1"] == 1.0  # the session ranking is unchanged
