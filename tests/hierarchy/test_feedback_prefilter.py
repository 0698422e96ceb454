"""The one pattern tried before the English feedback rules (feedback._EN_ANY) passes every clause they match."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from memoryd.hierarchy.feedback import _EN_ANY, _EN_RULES, extract_feedback

_LOCOMO = Path("/work/shared/data/locomo/locomo_dev.json")
_PIECES = re.compile(r"(?<=[.!;?\n])\s*|,\s*(?:but|and|so)\s+")


def _sound(texts: list[str]) -> int:
    matched = 0
    for text in texts:
        for clause in [text, *(p.strip() for p in _PIECES.split(text))]:
            if any(pattern.search(clause) for _, pattern, _ in _EN_RULES):
                matched += 1
                assert _EN_ANY.match(clause) is not None, clause
    return matched


def test_every_clause_a_rule_matches_in_the_feedback_tests_passes_the_prefilter() -> None:
    texts = [
        node.value
        for node in ast.walk(
            ast.parse((Path(__file__).parent / "test_feedback.py").read_text(encoding="utf-8"))
        )
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    assert _sound(texts) > 30


@pytest.mark.skipif(not _LOCOMO.exists(), reason="no LoCoMo dev file here")
def test_every_clause_a_rule_matches_in_locomo_passes_the_prefilter() -> None:
    samples = json.loads(_LOCOMO.read_text(encoding="utf-8"))
    _sound(
        [
            str(turn.get("text", ""))
            for sample in samples
            for key, session in sample["conversation"].items()
            if key.startswith("session_") and isinstance(session, list)
            for turn in session
        ]
    )


@pytest.mark.parametrize(
    "said",
    [
        "Dont use emojis.", "Oh, you're way too verbose.", "From now on, no more bullet points",
        "Could you please just reply in plain English?", "Well, your answers are too long",
        "Also, quit apologizing", "Going forward, avoid jargon", "Please, use fewer tables",
        "Go into more detail", "Give me longer answers", "Keep it short", "This reply is too technical",
    ],
)  # fmt: skip
def test_the_prefilter_passes_each_rule_opening(said: str) -> None:
    assert extract_feedback(said)
    assert _EN_ANY.match(said) is not None
