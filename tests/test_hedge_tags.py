"""A statement followed by a hedge of its own ("I live in Rome, I think", "I'm not vegan anymore,
I'm not sure") states nothing: it was read, and stored or ended what was stored, as if plain."""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory
from memoryd.ingest.rules import extract_statements
from tests.rule_helpers import states_nothing

T1, T2 = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"


@pytest.mark.parametrize(
    "said",
    [
        "I live in Rome, I think",
        "I live in Rome, I think.",
        "I work at Acme, I hope.",
        "I like tea, I guess",
        "I'm vegan, I believe",
        "I'm allergic to peanuts, I'm not sure",
        "I moved to Lisbon, probably",
        "My favorite color is green, I suppose",
        "I live in Rome, or so I thought",
    ],
)
def test_a_statement_hedged_after_it_states_nothing(said: str) -> None:
    assert extract_statements(said) == []


@pytest.mark.parametrize(
    ("said", "read"),
    [
        ("I live in Rome, I love it", ["The user lives in Rome."]),
        ("I live in Rome, I think it is great", ["The user lives in Rome."]),
        ("I live in Rome, I think, and I work at Acme", ["The user works at Acme."]),
    ],
)
def test_a_clause_of_its_own_after_it_is_no_hedge(said: str, read: list[str]) -> None:
    assert [s.text for s in extract_statements(said)] == read


@pytest.mark.parametrize(
    ("before", "said"),
    [
        ("I'm vegan", "I'm not vegan anymore, I think"),
        ("I'm vegan", "I'm no longer vegan, I'm not sure"),
        ("I work at Acme", "I left Acme, I think"),
        ("I live in Rome", "I live in Paris, I guess"),
    ],
)
async def test_a_hedged_end_or_change_leaves_the_profile(amem: AsyncMemory, before: str, said: str) -> None:
    await states_nothing(amem, before, said, T1, T2)
