"""Fast mode reads a plain statement followed by a question back to the other person.

"My favorite color is green, what's yours?" gave no favourite: a clause holding a "?" was dropped
as a question, though only the words after the comma are asked, and of the other person. Now a
question back ("what's yours?", "and you?", "how about you?", "what's your favorite color?") is
no part of the statement, which is read as if said alone. A question of the user's own ("What's
your favorite color?", "Is my favorite color green?", "Is my favorite color green, what's
yours?") still states nothing.
"""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory

U = {"user_id": "ana"}


async def drafted(mem: AsyncMemory) -> list[str]:
    page = await mem.get_all(**U, limit=100)
    return sorted(m.text for m in page.items if m.kind != "episode")


@pytest.mark.parametrize(
    ("said", "text"),
    [
        ("My favorite color is green, what's yours?", "The user's favorite color is green."),
        ("My favorite color is green, what is your favorite color?", "The user's favorite color is green."),
        ("My favourite food is bacalhau, how about you?", "The user's favourite food is bacalhau."),
        ("I live in Rome, and you?", "The user lives in Rome."),
        ("I work at Acme, what about you?", "The user works at Acme."),
    ],
)
async def test_a_statement_before_a_question_back_is_read(amem: AsyncMemory, said: str, text: str) -> None:
    await amem.add(said, **U)
    assert await drafted(amem) == [text]


@pytest.mark.parametrize(
    "said",
    [
        "What's your favorite color?",
        "Is my favorite color green?",
        "Is my favorite color green, what's yours?",
        "What is my favourite color, and you?",
        "Do I live in Rome, and you?",
        "My favorite color is green, right?",
        "My favorite color is green?",
    ],
)
async def test_a_question_of_ones_own_states_nothing(amem: AsyncMemory, said: str) -> None:
    out = await amem.add(said, **U)
    assert [r.kind for r in out] == ["episode"]
    assert await drafted(amem) == []
