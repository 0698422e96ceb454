"""Fast mode reads a move as the user's home.

"I moved to Lisbon last month", "I just moved to Berlin", "I've moved to Paris", "I relocated to
Madrid" and 我搬到了杭州 gave no profile memory: only the turn was stored. Now a past move states the
home as "I live in …" does ("The user lives in Lisbon.", rule ``live``), on the home's timeline: it
supersedes the current home, kept for ``as_of``. A move in a year ("in 2019") began then: a home
stored as said later stays current. A plan ("I'm moving to…", "I will move to… next year") and the
guards of every rule (questions, hypotheticals, someone else's words) give nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memoryd import AsyncMemory, Event

U = {"user_id": "ana"}
T1, T2 = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"


async def profile(mem: AsyncMemory, **more: object) -> list[str]:
    page = await mem.get_all(**U, filters={"kind": "profile"}, limit=100, **more)  # type: ignore[arg-type]
    return sorted(m.text for m in page.items)


@pytest.mark.parametrize(
    ("said", "home"),
    [
        ("I moved to Lisbon last month", "The user lives in Lisbon."),
        ("I just moved to Berlin!", "The user lives in Berlin."),
        ("I've moved to Paris", "The user lives in Paris."),
        ("I relocated to Madrid", "The user lives in Madrid."),
        ("I recently moved to New York City with my wife", "The user lives in New York City."),
        ("I moved to the UK in April 2024", "The user lives in the UK."),
        ("Two months ago I moved to Lisbon", "The user lives in Lisbon."),
        ("我搬到了杭州", "用户住在杭州。"),
        ("我搬到了杭州工作", "用户住在杭州。"),
        ("我刚搬到上海了", "用户住在上海。"),
    ],
)
async def test_a_move_supersedes_the_home(amem: AsyncMemory, said: str, home: str) -> None:
    await amem.add("I live in Rome", **U, timestamp=T1)
    out = await amem.add(said, **U, timestamp=T2)
    [change] = [r for r in out if r.kind == "profile"]
    assert (change.event, change.text, change.previous) == (Event.SUPERSEDE, home, "The user lives in Rome.")
    assert change.memory is not None and change.memory.metadata["rule"] == "live"
    assert change.memory.metadata["attribute"] == "location"
    assert await profile(amem) == [home]
    assert await profile(amem, as_of=datetime(2024, 3, 1, tzinfo=UTC)) == ["The user lives in Rome."]


@pytest.mark.parametrize("said", ["I moved to Lisbon in 2019", "In 2019, I moved to Lisbon"])
async def test_a_move_in_a_past_year_is_the_home_when_no_later_one_is_stored(
    amem: AsyncMemory, said: str
) -> None:
    await amem.add(said, **U, timestamp="2026-05-01T00:00:00Z")
    assert await profile(amem) == ["The user lives in Lisbon."]
    page = await amem.get_all(**U, filters={"kind": "profile"}, limit=10)
    assert page.items[0].valid_from == datetime(2019, 1, 1, tzinfo=UTC)  # when the move was
    assert await profile(amem, as_of=datetime(2020, 6, 1, tzinfo=UTC)) == ["The user lives in Lisbon."]


async def test_a_move_in_a_past_year_leaves_a_home_said_later_current(amem: AsyncMemory) -> None:
    await amem.add("I live in Rome", **U, timestamp="2024-01-01T00:00:00Z")
    await amem.add("I moved to Lisbon in 2019", **U, timestamp="2026-05-01T00:00:00Z")
    assert await profile(amem) == ["The user lives in Rome."]
    assert await profile(amem, include_expired=True) == [
        "The user lives in Lisbon.",
        "The user lives in Rome.",
    ]
    assert await profile(amem, as_of=datetime(2020, 6, 1, tzinfo=UTC)) == ["The user lives in Lisbon."]


@pytest.mark.parametrize(
    "said",
    [
        "I'm moving to Lisbon",
        "I'm moving to Lisbon next month",
        "I will move to Lisbon next year",
        "I moved to Lisbon in 2027",  # a year still to come
        "In 2027 I moved to Lisbon",
        "If I moved to Lisbon, I would learn Portuguese",
        "My friend said she moved to Lisbon",
        "I moved to Lisbon, she said",
        "Have you moved to Lisbon?",
        'My friend wrote: "I moved to Lisbon."',
        "I moved to a bigger flat",
        "I moved to Linux last year",
        "We moved to Lisbon",
        "如果我搬到了杭州，我会很开心",
        "妈妈说，我搬到了杭州",
        "我搬到了新家",
    ],
)
async def test_a_plan_or_someone_elses_move_is_no_home(amem: AsyncMemory, said: str) -> None:
    await amem.add("I live in Rome", **U, timestamp=T1)
    out = await amem.add(said, **U, timestamp="2026-05-01T00:00:00Z")
    assert [r.kind for r in out] == ["episode"]
    assert await profile(amem, include_expired=True) == ["The user lives in Rome."]


async def test_another_speakers_move_is_a_fact_about_them(amem: AsyncMemory) -> None:
    await amem.add(
        [
            {"role": "user", "name": "Caroline", "content": "I live in Rome"},
            {"role": "user", "name": "Melanie", "content": "I moved to Lisbon last month"},
        ],
        user_id="caroline",
        timestamp=T1,
    )
    facts = await amem.get_all(user_id="caroline", filters={"kind": "fact"}, limit=10)
    assert [m.text for m in facts.items] == ["Melanie lives in Lisbon."]
    mine = await amem.get_all(user_id="caroline", filters={"kind": "profile"}, limit=10)
    assert [m.text for m in mine.items] == ["The user lives in Rome."]


@pytest.mark.parametrize(
    ("said", "text", "since"),
    [
        ("I moved to Lisbon in May 2024", "The user lives in Lisbon.", datetime(2024, 5, 1, tzinfo=UTC)),
        ("I moved to Lisbon in March 2024", "The user lives in Lisbon.", datetime(2024, 3, 1, tzinfo=UTC)),
        ("I work at Acme from May 2019", "The user works at Acme from May 2019.", None),
    ],
)
async def test_the_month_may_is_no_hedge(
    amem: AsyncMemory, said: str, text: str, since: datetime | None
) -> None:
    """ "May 2024" is a month, as "March 2024" is, not the hedge "may": the statement is read."""
    out = await amem.add(said, **U, timestamp=T2)
    [made] = [r for r in out if r.kind == "profile"]
    assert made.text == text and made.memory is not None
    assert made.memory.valid_from == (since or datetime(2024, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "said", ["I moved to Lisbon in May 2099", "I live in Rome and may move", "I may live in Rome"]
)
async def test_may_in_a_year_to_come_or_as_a_hedge_gives_nothing(amem: AsyncMemory, said: str) -> None:
    out = await amem.add(said, **U, timestamp=T2)
    assert [r.kind for r in out] == ["episode"]
