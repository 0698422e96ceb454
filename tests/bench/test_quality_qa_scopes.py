"""QA mode: a hit is shown with the date and speaker of the question's own conversation.

LoCoMo's turn aliases are dia_ids, the same in every conversation ("D1:1"); the answering model
must see the session date and speaker of the conversation the question searched, never those of
another conversation that happens to use the same dia_id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memoryd.bench.quality.locomo import load_locomo
from memoryd.bench.quality.qa import build_qa
from memoryd.bench.quality.systems import Retrieved
from tests.bench.test_quality_qa import _content, _settings
from tests.fakes.llm_server import Script


def _conversation(sample_id: str, names: tuple[str, str], date: str, fact: str) -> dict[str, Any]:
    return {
        "sample_id": sample_id,
        "conversation": {
            "speaker_a": names[0],
            "speaker_b": names[1],
            "session_1_date_time": date,
            "session_1": [{"speaker": names[0], "dia_id": "D1:1", "text": fact}],
        },
        "qa": [{"question": "What pet was adopted?", "answer": "a dog", "evidence": ["D1:1"], "category": 4}],
    }


async def test_hits_carry_their_own_conversations_date_and_speaker(tmp_path: Path, fake_llm: Script) -> None:
    path = tmp_path / "locomo.json"
    path.write_text(
        json.dumps(
            [
                _conversation("conv-1", ("Ana", "Ben"), "1:56 pm on 8 May, 2023", "I adopted a dog."),
                _conversation("conv-2", ("Caro", "Dev"), "7:55 pm on 9 June, 2024", "I adopted a cat."),
            ]
        ),
        encoding="utf-8",
    )
    bench = load_locomo(path)
    first = bench.units[0].questions[0]
    qa = build_qa(_settings(fake_llm), dataset="locomo")
    assert qa is not None
    qa.prepare(bench)
    fake_llm.reply_text("a dog")
    fake_llm.reply_json({"label": "CORRECT"})
    async with qa:
        await qa(first, [Retrieved(("D1:1",), 0.9, "I adopted a dog.")])
    prompt = _content(fake_llm, 0)
    assert "[Monday 8 May 2023, 13:56] Ana: I adopted a dog." in prompt
    assert "Caro" not in prompt and "2024" not in prompt
