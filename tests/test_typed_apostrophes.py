"""Self-statements typed with a phone's or a word processor's apostrophe (’, ʼ) read as typed with
``'``: "I’m a nurse." gave no statement, "I'm a nurse." a profile fact."""

from __future__ import annotations

import pytest

from memoryd.ingest.rules import extract_statements
from memoryd.text import straight_apostrophes

SAID = [
    ("I’m a nurse.", "The user is a nurse."),
    ("My name’s Ana", "The user's name is Ana."),
    ("I’m vegetarian and I’ve moved to Lisbon.", "The user lives in Lisbon."),
    ("Iʼm allergic to peanuts.", "The user is allergic to peanuts."),
]


@pytest.mark.parametrize(("typed", "fact"), SAID)
def test_a_typographic_apostrophe_reads_as_a_straight_one(typed: str, fact: str) -> None:
    straight = typed.replace("’", "'").replace("ʼ", "'")
    found = [s.text for s in extract_statements(typed)]
    assert fact in found
    assert found == [s.text for s in extract_statements(straight)]


def test_a_closing_quotation_mark_stays_one() -> None:
    assert straight_apostrophes("‘I’m a nurse’ she said, don’t") == "‘I'm a nurse’ she said, don't"
    assert straight_apostrophes("the players’ bench") == "the players’ bench"  # no letter after it
