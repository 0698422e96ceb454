"""Fast mode reads the user's allergies.

"I'm allergic to peanuts" and 我对花生过敏 gave no profile memory. Now each is one ("The user is
allergic to peanuts.", attribute ``allergy``, rule ``allergy``), and allergies add up: a second
one ends none. Questions, negations, hypotheticals and someone else's allergies give nothing.
"""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory

U = {"user_id": "ana"}


async def profile(mem: AsyncMemory) -> list[tuple[str, str]]:
    page = await mem.get_all(**U, filters={"kind": "profile"}, limit=100)
    return sorted((m.text, m.metadata["attribute"]) for m in page.items)


async def test_allergies_add_up(amem: AsyncMemory) -> None:
    await amem.add("I'm allergic to peanuts", **U, timestamp="2024-01-01T00:00:00Z")
    await amem.add("I am severely allergic to shellfish.", **U, timestamp="2024-06-01T00:00:00Z")
    await amem.add("我对花生过敏", **U, timestamp="2024-07-01T00:00:00Z")
    assert await profile(amem) == [
        ("The user is allergic to peanuts.", "allergy"),
        ("The user is allergic to shellfish.", "allergy"),
        ("用户对花生过敏。", "allergy"),
    ]
    hits = await amem.search("what is she allergic to?", **U, filters={"kind": "profile"})
    assert {h.memory.text for h in hits} >= {"The user is allergic to peanuts."}


@pytest.mark.parametrize(
    "said",
    [
        "Are you allergic to peanuts?",
        "Am I allergic to peanuts?",
        "I'm not allergic to peanuts",
        "If I were allergic to peanuts, I'd know",
        "My son is allergic to peanuts",
        "My friend said she is allergic to peanuts",
        "I think I'm allergic to peanuts",
        "我对花生不过敏",
        "你对花生过敏吗？",
        "妈妈说，我对花生过敏",
    ],
)
async def test_no_allergy_from_a_question_or_someone_else(amem: AsyncMemory, said: str) -> None:
    out = await amem.add(said, **U)
    assert [r.kind for r in out] == ["episode"]
    assert await profile(amem) == []


@pytest.mark.parametrize(
    ("said", "text"),
    [
        ("I'm allergic to bees so be careful", "The user is allergic to bees."),
        ("I'm allergic to bees (and wasps)", "The user is allergic to bees (and wasps)."),
        ("I'm allergic to penicillin which is annoying", "The user is allergic to penicillin."),
        ("I'm allergic to cleaning products", "The user is allergic to cleaning products."),
    ],
)
async def test_an_allergy_is_what_it_names(amem: AsyncMemory, said: str, text: str) -> None:
    """What follows the allergen (a clause of its own) is no part of it; a bracket is closed."""
    await amem.add(said, **U)
    assert await profile(amem) == [(text, "allergy")]


@pytest.mark.parametrize(
    "said",
    [
        "I'm allergic to Mondays",
        "I'm allergic to the idea of working weekends",
        "I'm allergic to running",
        "I'm allergic to people today",
        "I'm allergic to hard work",
    ],
)
async def test_no_allergy_from_a_figure_of_speech(amem: AsyncMemory, said: str) -> None:
    out = await amem.add(said, **U)
    assert [r.kind for r in out] == ["episode"]
    assert await profile(amem) == []
