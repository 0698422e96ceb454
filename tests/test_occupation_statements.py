"""Fast mode reads an occupation said with "work as" and a diet as the user's identity.

"I work as a nurse", "I'm working as a teacher", "I'm vegetarian" and "I'm vegan" gave no profile
memory (only "I'm a nurse" and "I'm a vegetarian" did). Now they are identity entries as "I'm a…"
gives ("The user is a nurse.", "The user is vegan."), with the article the user said; questions,
hypotheticals, negations and someone else's words give nothing.
"""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory

U = {"user_id": "ana"}


async def profile(mem: AsyncMemory) -> list[tuple[str, str, str]]:
    page = await mem.get_all(**U, filters={"kind": "profile"}, limit=100)
    return sorted((m.text, m.metadata["rule"], m.metadata["attribute"]) for m in page.items)


@pytest.mark.parametrize(
    ("said", "text"),
    [
        ("I work as a nurse", "The user is a nurse."),
        ("I'm working as a teacher.", "The user is a teacher."),
        ("I currently work as an engineer", "The user is an engineer."),
        ("Hi! I work as a nurse and I love it", "The user is a nurse."),
        ("I'm vegetarian", "The user is vegetarian."),
        ("I'm vegan now", "The user is vegan."),
        ("I am pescatarian", "The user is pescatarian."),
        ("I'm a vegetarian", "The user is a vegetarian."),
        # the role only, not why or for how long
        ("I'm working as a waiter until I find something better", "The user is a waiter."),
        ("I work as a freelance designer to pay the bills", "The user is a freelance designer."),
        ("I work as a nurse because I like helping people", "The user is a nurse."),
    ],
)
async def test_an_occupation_or_a_diet_is_the_identity(amem: AsyncMemory, said: str, text: str) -> None:
    out = await amem.add(said, **U)
    assert [r.kind for r in out] == ["episode", "profile"]
    assert await profile(amem) == [(text, "identity", "identity")]


@pytest.mark.parametrize(
    "said",
    [
        "Do you work as a nurse?",
        "If I worked as a nurse, I would be tired",
        "I don't work as a nurse",
        "My sister works as a nurse",
        "She said I work as a nurse",
        "I work as hard as I can",
        "I work as a team",
        "We are close and I work as a team with my sister",
        "I work as a way to stay busy",
        "I'm not vegetarian",
        "I'm vegetarian for a month, my doctor said",
        "Are you vegan?",
        "My friend is vegan",
    ],
)
async def test_no_identity_from_a_question_or_someone_else(amem: AsyncMemory, said: str) -> None:
    out = await amem.add(said, **U)
    assert [r.kind for r in out] == ["episode"]
    assert await profile(amem) == []
