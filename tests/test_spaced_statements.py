"""A self-statement typed with two spaces, a no-break space (which French keyboards and pasted text
put in) or a thin or ideographic space between its words is the statement typed plainly: "My  name
is Bob" was no statement at all, while "My name is Bob" was. A line break still ends a clause."""

from __future__ import annotations

import pytest

from memoryd.ingest.rules import extract_statements


@pytest.mark.parametrize(
    ("said", "stated"),
    [
        ("My  name is Bob", "The user's name is Bob."),
        ("Call  me Al", "The user's name is Al."),
        ("I\u00a0am a nurse", "The user is a nurse."),
        ("I\u2009am a pilot", "The user is a pilot."),
        ("I\u3000am a pilot", "The user is a pilot."),
        ("I can't  stand rain", "The user dislikes rain."),
        ("My\u00a0name is Bob", "The user's name is Bob."),
    ],
)
def test_odd_spaces_between_the_words_of_a_statement_read_as_one(said: str, stated: str) -> None:
    assert [s.text for s in extract_statements(said)] == [stated]


def test_a_line_break_still_ends_a_clause() -> None:
    assert [s.text for s in extract_statements("My name\nis Bob")] == []
