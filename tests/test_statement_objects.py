"""Fast mode reads the whole object of a statement, and no more than it.

"I work at Marks and spencer" gave "The user works at Marks." (the "and" before a lower-case word
was read as the start of another clause): a known "X and Y" name ("Marks and spencer", "Trinidad
and tobago") or a name "and Sons" / "and Co" stays whole, as one with both sides capitalised did,
while "I work at Acme and I love it" / "… & I love it" is still Acme.
"""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory

U = {"user_id": "ana"}
T1, T2, T3 = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z", "2024-09-01T00:00:00Z"


async def current(mem: AsyncMemory, kind: str) -> list[str]:
    page = await mem.get_all(**U, filters={"kind": kind}, limit=100)
    return sorted(m.text for m in page.items)


@pytest.mark.parametrize(
    ("said", "profile"),
    [
        ("I work at Marks and Spencer", "The user works at Marks and Spencer."),
        ("I work at Marks and spencer", "The user works at Marks and spencer."),
        ("I work at Marks & spencer.", "The user works at Marks & spencer."),
        ("I work at Procter and Gamble", "The user works at Procter and Gamble."),
        ("I work at Smith and sons", "The user works at Smith and sons."),
        ("I live in Trinidad and tobago", "The user lives in Trinidad and tobago."),
        ("I work at Acme and I love it", "The user works at Acme."),
        ("I work at Acme & I love it", "The user works at Acme."),
        ("I work at Acme and love it", "The user works at Acme."),
        ("I work at Google and start a new project tomorrow", "The user works at Google."),
    ],
)
async def test_an_organisation_joined_by_and_is_read_whole(
    amem: AsyncMemory, said: str, profile: str
) -> None:
    await amem.add(said, **U, timestamp=T1)
    assert await current(amem, "profile") == [profile]


async def test_a_workplace_joined_by_and_supersedes_and_is_superseded_whole(amem: AsyncMemory) -> None:
    await amem.add("I work at Acme", **U, timestamp=T1)
    await amem.add("I work at Marks and spencer", **U, timestamp=T2)
    assert await current(amem, "profile") == ["The user works at Marks and spencer."]
    await amem.add("I work at Acme & I love it", **U, timestamp=T3)
    assert await current(amem, "profile") == ["The user works at Acme."]
    page = await amem.get_all(**U, filters={"kind": "profile"}, include_expired=True, limit=100)
    assert sorted(m.text for m in page.items if m.valid_to is not None) == [
        "The user works at Acme.",
        "The user works at Marks and spencer.",
    ]  # kept: what held then


# "I like coffee as soon as I wake up" gave "The user likes coffee as soon as I wake up.": a taste's
# thing ends where a clause of its own starts (when or why it holds), not at a plain phrase.
@pytest.mark.parametrize(
    ("said", "taste"),
    [
        ("I like coffee as soon as I wake up", "The user likes coffee."),
        ("I like coffee after I wake up.", "The user likes coffee."),
        ("I love tea before I go to bed", "The user loves tea."),
        ("I like walks whenever it rains", "The user likes walks."),
        ("I like jazz while I cook", "The user likes jazz."),
        ("I like coffee if it's hot", "The user likes coffee."),
        ("I hate mornings because they are cold", "The user dislikes mornings."),
        ("I like hiking with my dog once it's sunny", "The user likes hiking with their dog."),
        ("I like coffee after dinner", "The user likes coffee after dinner."),  # the thing as said
    ],
)
async def test_a_taste_ends_where_a_clause_of_its_own_starts(
    amem: AsyncMemory, said: str, taste: str
) -> None:
    await amem.add(said, **U, timestamp=T1)
    assert await current(amem, "preference") == [taste]


async def test_a_taste_cut_at_its_clause_is_ended_by_the_opposite_one(amem: AsyncMemory) -> None:
    await amem.add("I like coffee as soon as I wake up", **U, timestamp=T1)
    await amem.add("I don't like coffee anymore", **U, timestamp=T2)
    assert await current(amem, "preference") == ["The user dislikes coffee."]


# "I live in Rome, next to the Colosseum": the home is "Rome" (a detail after a comma is no part of
# it, so "I moved out of Rome" and "I live in Paris" still match and end it), and the detail stays
# searchable in the user's turn. Pinned: this already held.
async def test_a_home_keeps_its_place_and_the_turn_keeps_the_detail(amem: AsyncMemory) -> None:
    said = "I live in Rome, next to the Colosseum"
    await amem.add(said, **U, timestamp=T1)
    assert await current(amem, "profile") == ["The user lives in Rome."]
    hits = await amem.search("Colosseum", **U)
    assert hits and hits[0].memory.text == said
    await amem.add("I moved out of Rome", **U, timestamp=T2)
    assert await current(amem, "profile") == ["The user no longer lives in Rome."]
    hits = await amem.search("Colosseum", **U)
    assert hits and hits[0].memory.text == said  # the turn stays found after the home ended
