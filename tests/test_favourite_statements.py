"""Fast mode reads a favourite: one per category at a time.

"My favourite food is bacalhau", "My favorite color is blue" and 我最喜欢的食物是饺子 gave no
preference memory. Now each is an explicit preference ("The user's favourite food is bacalhau.",
rule ``favourite``, polarity ``like``, ``metadata.favourite`` its category) and a later favourite
of the same category supersedes it ("colour" and "color" are one), kept for ``as_of`` with a
SUPERSEDE in its history; favourites of other categories coexist. Someone else's favourite, a
question or a hypothetical give nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memoryd import AsyncMemory, Event

U = {"user_id": "ana"}
T1, T2, T3 = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z", "2024-09-01T00:00:00Z"


async def favourites(mem: AsyncMemory, **more: object) -> list[str]:
    page = await mem.get_all(**U, filters={"kind": "preference"}, limit=100, **more)  # type: ignore[arg-type]
    return sorted(m.text for m in page.items)


@pytest.mark.parametrize(
    ("said", "text", "category"),
    [
        ("My favourite food is bacalhau", "The user's favourite food is bacalhau.", "food"),
        ("My favorite color is blue!", "The user's favorite color is blue.", "color"),
        ("My favourite colour is blue", "The user's favourite colour is blue.", "color"),
        ("我最喜欢的食物是饺子", "用户最喜欢的食物是饺子。", "食物"),
        # the answer only: not a question after it, emphasis or when it holds
        ("My favorite color is green, what's yours", "The user's favorite color is green.", "color"),
        ("My favourite season is definitely fall", "The user's favourite season is fall.", "season"),
        ("My favorite food now is bacalhau", "The user's favorite food is bacalhau.", "food"),
        ("My favorite band is Earth, Wind & Fire", "The user's favorite band is Earth, Wind & Fire.", "band"),
        (
            "My favorite book is The Girl Who Played with Fire",
            "The user's favorite book is The Girl Who Played with Fire.",
            "book",
        ),  # fmt: skip
        ("我最喜欢的食物现在是饺子", "用户最喜欢的食物是饺子。", "食物"),
        ("我最爱的人是我妈妈", "用户最喜欢的人是用户的妈妈。", "人"),
    ],
)
async def test_a_favourite_is_an_explicit_preference(
    amem: AsyncMemory, said: str, text: str, category: str
) -> None:
    out = await amem.add(said, **U)
    [made] = [r for r in out if r.kind == "preference"]
    assert made.text == text and made.memory is not None
    meta = made.memory.metadata
    assert (meta["preference"], meta["polarity"], meta["rule"], meta["favourite"]) == (
        "explicit", "like", "favourite", category,
    )  # fmt: skip


async def test_a_later_favourite_of_the_category_supersedes_it(amem: AsyncMemory) -> None:
    await amem.add("My favorite color is blue", **U, timestamp=T1)
    await amem.add("My favourite food is bacalhau", **U, timestamp=T1)
    out = await amem.add("My favourite colour is green", **U, timestamp=T2)
    [change] = [r for r in out if r.kind == "preference"]
    assert (change.event, change.previous) == (Event.SUPERSEDE, "The user's favorite color is blue.")
    assert await favourites(amem) == [
        "The user's favourite colour is green.",
        "The user's favourite food is bacalhau.",
    ]
    then = await favourites(amem, as_of=datetime(2024, 3, 1, tzinfo=UTC))
    assert then == ["The user's favorite color is blue.", "The user's favourite food is bacalhau."]
    page = await amem.get_all(**U, filters={"kind": "preference"}, include_expired=True, limit=100)
    blue = next(m for m in page.items if "blue" in m.text)
    assert blue.valid_to == datetime(2024, 6, 1, tzinfo=UTC)
    last = (await amem.history(blue.id))[-1]
    assert (last.event, last.new_text) == (Event.SUPERSEDE, "The user's favourite colour is green.")
    # and back again: blue is current, green ended
    await amem.add("My favorite color is blue", **U, timestamp=T3)
    assert await favourites(amem) == [
        "The user's favorite color is blue.",
        "The user's favourite food is bacalhau.",
    ]


async def test_a_favourite_told_late_is_added_already_ended(amem: AsyncMemory) -> None:
    await amem.add("My favorite color is green", **U, timestamp=T2)
    await amem.add("My favorite color is blue", **U, timestamp=T1)
    assert await favourites(amem) == ["The user's favorite color is green."]


async def test_a_favourite_does_not_end_a_taste(amem: AsyncMemory) -> None:
    await amem.add("I like pizza", **U, timestamp=T1)
    await amem.add("My favourite food is bacalhau", **U, timestamp=T2)
    assert await favourites(amem) == ["The user likes pizza.", "The user's favourite food is bacalhau."]


@pytest.mark.parametrize(
    "said",
    [
        "My sister's favourite color is blue",
        "My friend said my favourite color is blue",
        "What is my favourite color?",
        "Is my favourite food bacalhau?",
        "If my favourite food were bacalhau, I'd live in Lisbon",
        "My favourite food is not pizza",
        "Your favourite food is bacalhau",
        '"My favourite food is bacalhau," she said',
        "我妹妹最喜欢的食物是饺子",
        "你最喜欢的食物是什么？",
    ],
)
async def test_no_favourite_from_someone_else_or_a_question(amem: AsyncMemory, said: str) -> None:
    out = await amem.add(said, **U)
    assert [r.kind for r in out] == ["episode"]
    assert await favourites(amem) == []


@pytest.mark.parametrize(
    ("said", "before"),
    [
        ("My favorite food is hard to pick", "My favorite food is pizza"),
        ("My favorite food is probably sushi", "My favorite food is pizza"),
        ("My favorite food is sushi, I think", "My favorite food is pizza"),
        ("My favorite food is a tie between pizza and sushi", "My favorite food is pizza"),
        ("My favorite food is sushi, or was", "My favorite food is pizza"),
        ("My favorite food is sushi or ramen", "My favorite food is pizza"),
        ("My favorite thing is when the kids laugh", "My favorite thing is painting"),
        (
            "My favorite sweater is super soft and lightweight, kind of like cashmere",
            "My favorite sweater is the red one",
        ),
        ("My favorite author is actually a mystery writer", "My favorite author is Agatha Christie"),
        ("我最喜欢的食物以前是饺子", "我最喜欢的食物是米饭"),
        ("我最喜欢的食物应该是饺子", "我最喜欢的食物是米饭"),
    ],
)
async def test_no_favourite_from_a_non_answer_a_past_one_or_a_description(
    amem: AsyncMemory, said: str, before: str
) -> None:
    """A favourite is a plain answer naming one thing: a hedge, a non-answer, a choice not made,
    a clause, a description of the favourite thing or a past favourite (以前是) states none, and
    ends none: the favourite said before stays current."""
    [stated] = [r.text for r in await amem.add(before, **U, timestamp=T1) if r.kind == "preference"]
    out = await amem.add(said, **U, timestamp=T2)
    assert [r.kind for r in out] == ["episode"]
    assert await favourites(amem) == [stated]
