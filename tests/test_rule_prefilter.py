"""The word test before each English statement rule (rules._EN_NEEDS) skips only rules that cannot match."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from memoryd.ingest.rules import _EN_RULES, _rules_for, extract_statements

_TESTS = Path(__file__).parent
_LOCOMO = Path("/work/shared/data/locomo/locomo_dev.json")
_PIECES = re.compile(r"[.!?;\n]+|,\s*(?:but|and|so|because)\s+")


def _phrasings() -> list[str]:
    """Every string in the statement tests (their phrasings), each also cut into its sentences."""
    out: list[str] = []
    for path in sorted(_TESTS.glob("test_*statements*.py")) + [_TESTS / "test_rules.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.append(node.value)
    return out


def _sound(texts: list[str]) -> None:
    for text in texts:
        for part in [text, *(p.strip() for p in _PIECES.split(text))]:
            tried = _rules_for(part)
            for rule, pattern in _EN_RULES:
                if pattern.search(part) is not None:
                    assert (rule, pattern) in tried, (rule, part)


def _locomo() -> list[str]:
    samples = json.loads(_LOCOMO.read_text(encoding="utf-8"))
    return [
        str(turn.get("text", ""))
        for sample in samples
        for key, session in sample["conversation"].items()
        if key.startswith("session_") and isinstance(session, list)
        for turn in session
    ]


def _a_part_tries_what_the_whole_tries(texts: list[str]) -> None:
    # extract_statements gives nothing for an English message _rules_for gives nothing for (the rules
    # by name: which of the two forms of an end is tried depends on the words around it)
    def names(part: str) -> set[str]:
        return {rule for rule, _ in _rules_for(part)}

    for text in texts:
        whole = names(text)
        for piece in _PIECES.split(text):
            for start in range(0, len(piece), 7):
                part = piece[start:].strip()
                assert names(part) <= whole, (part, text)
                if re.match(r"(?i)moved|relocated", part):
                    assert names("I " + part) <= whole, (part, text)


def test_a_part_of_a_test_phrasing_tries_no_rule_the_whole_does_not() -> None:
    _a_part_tries_what_the_whole_tries(_phrasings())


@pytest.mark.skipif(not _LOCOMO.exists(), reason="no LoCoMo dev file here")
def test_a_part_of_a_locomo_turn_tries_no_rule_the_whole_does_not() -> None:
    _a_part_tries_what_the_whole_tries(_locomo())


def test_a_part_without_any_rule_word_tries_none_of_the_six_rules() -> None:
    tried = _rules_for("I went to the park with my dog yesterday")
    assert not [rule for rule, pattern in _EN_RULES if (rule, pattern) in tried]
    assert [rule for rule, _ in _rules_for("I still work at Acme") if rule == "work"] == ["work"]


def test_every_rule_that_matches_a_test_phrasing_is_tried() -> None:
    texts = _phrasings()
    assert len(texts) > 500
    _sound(texts)


@pytest.mark.skipif(not _LOCOMO.exists(), reason="no LoCoMo dev file here")
def test_every_rule_that_matches_a_locomo_turn_is_tried() -> None:
    turns = _locomo()
    assert len(turns) > 1000
    _sound(turns)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("\u0130 am a nurse", "The user is a nurse."),  # İ: "i" to the rules, "i̇" to str.lower()
        ("\u0131 am a nurse", "The user is a nurse."),  # dotless ı: "i" to the rules only
        ("I li\u212ae tea", "The user likes tea."),  # Kelvin K
        ("I \u017ftill live in Rome", "The user lives in Rome."),  # long ſ
        ("I adore jazz", "The user loves jazz."),
        ("I can't stand noise", "The user dislikes noise."),
        ("Call me Ana", "The user's name is Ana."),
        ("I finished school and moved to Paris", "The user lives in Paris."),
        ("我住在北京，后来又搬到了上海", "用户住在上海。"),
    ],
)
def test_letters_the_rules_read_as_ascii_still_state(text: str, said: str) -> None:
    assert [s.text for s in extract_statements(text)] == [said]
