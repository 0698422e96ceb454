"""LoCoMo evidence: every dropped id is counted, and gold sessions are where the evidence turns are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memoryd.bench.quality.locomo import load_locomo, score_locomo


def _turn(dia_id: str, speaker: str, text: str) -> dict[str, Any]:
    return {"speaker": speaker, "dia_id": dia_id, "text": text}


def _sample(evidence: list[str], **conversation: Any) -> dict[str, Any]:
    return {
        "sample_id": "conv-1",
        "conversation": {
            "speaker_a": "Ana",
            "speaker_b": "Ben",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [_turn("D1:1", "Ana", "I adopted a dog."), _turn("D1:2", "Ben", "Nice.")],
            **conversation,
        },
        "qa": [{"question": "Which pet?", "answer": "a dog", "evidence": evidence, "category": 4}],
    }


def _note(notes: tuple[str, ...], start: str) -> str:
    return next(n for n in notes if n.startswith(start))


def test_unparseable_evidence_ids_are_counted_as_dropped(tmp_path: Path) -> None:
    # conv-42 of the dev split lists the evidence id "D": it cannot name a turn and is dropped;
    # the report must count it with the other dropped ids rather than lose it silently.
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([_sample(["D", "D1:1", "D7:7", "D1:1; D"])]))
    bench = load_locomo(path)
    question = bench.units[0].questions[0]
    assert question.gold_turns == {"D1:1"}
    assert _note(bench.notes, "Evidence ids naming no turn").endswith("(dropped): 1.")  # D7:7
    assert _note(bench.notes, "Evidence ids that are not D<session>:<turn>").endswith("(dropped): 2.")


def test_gold_sessions_are_the_sessions_holding_the_evidence(tmp_path: Path) -> None:
    # A turn filed under session_2 whose dia_id says D3: session recall must credit the session
    # the turn is stored (and retrieved) in, not one read from the id's prefix.
    path = tmp_path / "locomo.json"
    later = {
        "session_2_date_time": "7:55 pm on 9 June, 2023",
        "session_2": [_turn("D3:1", "Ana", "The dog is called Biscuit.")],
    }
    path.write_text(json.dumps([_sample(["D3:1"], **later)]))
    bench = load_locomo(path)
    unit = bench.units[0]
    question = unit.questions[0]
    assert question.gold_sessions == {"session_2"}
    evidence = unit.turns_by_alias()["D3:1"]
    scores = score_locomo(question, [evidence], (1,))
    assert scores == {"turn.any@1": 1.0, "turn.fraction@1": 1.0, "session.any@1": 1.0}
