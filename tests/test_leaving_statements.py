"""Fast mode reads that the user's home or workplace has ended.

"I no longer live in Rome", "I don't live in Rome anymore", "I moved out of Rome", "I left Acme",
"I quit my job at Acme", "我不再住在罗马" ended nothing: Rome stayed the current home. Now such a
statement ends the current home (workplace) when it names that place, as a new home does: "The
user no longer lives in Rome." is current, and Rome is kept for ``as_of`` with a SUPERSEDE in its
history. Naming another place ("I moved out of Milan", "I quit smoking") changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memoryd import AsyncMemory, Event
from memoryd.ingest.rules import extract_statements
from tests.rule_helpers import U, profile, supersedes

T1, T2, T3 = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z", "2024-09-01T00:00:00Z"
BETWEEN = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before", "ending", "ended", "now"),
    [
        ("I live in Rome", "I no longer live in Rome", "The user lives in Rome.", "The user no longer lives in Rome."),
        ("I live in Rome", "I don't live in Rome anymore.", "The user lives in Rome.", "The user no longer lives in Rome."),
        ("I live in Rome", "I'm not living in Rome any more", "The user lives in Rome.", "The user no longer lives in Rome."),
        ("I live in Rome", "I moved out of Rome", "The user lives in Rome.", "The user no longer lives in Rome."),
        ("I live in Rome, Italy", "I've moved away from Rome", "The user lives in Rome, Italy.", "The user no longer lives in Rome."),
        ("I live in Rome", "I moved out of Rome, Italy", "The user lives in Rome.", "The user no longer lives in Rome, Italy."),
        ("I work at Acme", "I no longer work at Acme", "The user works at Acme.", "The user no longer works at Acme."),
        ("I work at Acme", "I don't work for Acme anymore", "The user works at Acme.", "The user no longer works at Acme."),
        ("I work at Acme", "I left Acme.", "The user works at Acme.", "The user no longer works at Acme."),
        ("I work at Acme", "I quit my job at Acme", "The user works at Acme.", "The user no longer works at Acme."),
        ("I work at Marks and Spencer", "I left Marks and Spencer", "The user works at Marks and Spencer.", "The user no longer works at Marks and Spencer."),
        ("我住在罗马", "我不再住在罗马", "用户住在罗马。", "用户不再住在罗马。"),
        ("我住在罗马", "我已经不住在罗马了", "用户住在罗马。", "用户不再住在罗马。"),
        ("我在谷歌工作", "我已经不在谷歌工作了", "用户在谷歌工作。", "用户不再在谷歌工作。"),
    ],
)  # fmt: skip
async def test_a_statement_that_a_home_ended_ends_it(
    amem: AsyncMemory, before: str, ending: str, ended: str, now: str
) -> None:
    await supersedes(amem, before, ending, ended, now, T1, T2)
    assert await profile(amem, as_of=BETWEEN) == [ended]  # what held then
    page = await amem.get_all(**U, filters={"kind": "profile"}, include_expired=True, limit=100)
    old = next(m for m in page.items if m.text == ended)
    assert old.valid_to == datetime(2024, 6, 1, tzinfo=UTC)
    last = (await amem.history(old.id))[-1]
    assert (last.event, last.new_text) == (Event.SUPERSEDE, now)


@pytest.mark.parametrize(
    "other",
    [
        "I moved out of Milan",
        "I no longer live in Milan",
        "I don't live in Paris anymore",
        "I left Google",
        "I quit smoking",
        "I left my keys at the office",
        "I no longer work at Google",
        "我不再住在米兰",
        "I don't live in Rome",  # no "anymore": not an end
        "If I no longer lived in Rome, I'd miss it",
    ],
)
async def test_naming_a_place_that_is_not_the_current_one_changes_nothing(
    amem: AsyncMemory, other: str
) -> None:
    await amem.add("I live in Rome. I work at Acme.", **U, timestamp=T1)
    out = await amem.add(other, **U, timestamp=T2)
    assert [r.kind for r in out] == ["episode"]
    current = ["The user lives in Rome.", "The user works at Acme."]
    assert await profile(amem) == current
    assert await profile(amem, include_expired=True) == current


async def test_an_end_with_no_home_stored_adds_nothing(amem: AsyncMemory) -> None:
    out = await amem.add("I no longer live in Rome", **U, timestamp=T1)
    assert [r.kind for r in out] == ["episode"]
    assert await profile(amem, include_expired=True) == []


async def test_a_new_home_after_an_end_supersedes_it(amem: AsyncMemory) -> None:
    await amem.add("I live in Rome", **U, timestamp=T1)
    await amem.add("I moved out of Rome", **U, timestamp=T2)
    out = await amem.add("I live in Paris", **U, timestamp=T3)
    [change] = [r for r in out if r.kind == "profile"]
    assert (change.event, change.previous) == (Event.SUPERSEDE, "The user no longer lives in Rome.")
    assert await profile(amem) == ["The user lives in Paris."]
    # a second end of a home already ended is nothing
    out = await amem.add("I no longer live in Rome", **U, timestamp="2024-10-01T00:00:00Z")
    assert [r.kind for r in out] == ["episode"] and await profile(amem) == ["The user lives in Paris."]


async def test_a_home_and_its_end_in_one_add(amem: AsyncMemory) -> None:
    await amem.add(
        [
            {"role": "user", "content": "I live in Rome"},
            {"role": "user", "content": "I no longer live in Rome"},
        ],
        **U,
        timestamp=T1,
    )
    assert await profile(amem) == ["The user no longer lives in Rome."]
    assert await profile(amem, include_expired=True) == [
        "The user lives in Rome.",
        "The user no longer lives in Rome.",
    ]


async def test_deleting_the_turn_that_ended_a_home_makes_it_current_again(amem: AsyncMemory) -> None:
    await amem.add("I live in Rome", **U, timestamp=T1)
    out = await amem.add("I moved out of Rome", **U, timestamp=T2)
    [turn] = [r for r in out if r.kind == "episode"]
    assert turn.id is not None
    await amem.delete(turn.id)
    assert await profile(amem) == ["The user lives in Rome."]


@pytest.mark.parametrize(
    ("before", "other"),
    [
        ("I work at Google London", "I left London."),
        ("I work at the Bank of England", "I left England."),
        ("I work at Lincoln High School", "I left school."),
        ("I work at Google London", "I no longer work at Google"),
        ("I live in New York City", "I moved out of York"),
        ("我在家乐福工作", "我不在家工作了"),  # 家 (home) is not 家乐福 (Carrefour)
        ("I work at Smoking Gun Studios", "I quit smoking"),
    ],
)
async def test_a_place_that_only_holds_the_named_one_is_another(
    amem: AsyncMemory, before: str, other: str
) -> None:
    first = await amem.add(before, **U, timestamp=T1)
    [held] = [r.text for r in first if r.kind == "profile"]
    out = await amem.add(other, **U, timestamp=T2)
    assert [r.kind for r in out] == ["episode"]
    assert await profile(amem, include_expired=True) == [held]


@pytest.mark.parametrize(
    ("before", "ending", "now"),
    [
        ("I work at the Bank of England", "I left the Bank of England.", "The user no longer works at the Bank of England."),
        ("I work at Acme", "I left acme!", None),  # "I left" a name: written capitalised
        ("I work at Acme", "I quit my job at acme", "The user no longer works at acme."),
        ("I work at Google", "I left Google last year", "The user no longer works at Google."),
        ("I work at Google", "I left Google two years ago.", "The user no longer works at Google."),
        ("I work at Google", "I left Google in March 2024", "The user no longer works at Google."),
        ("I live in Rome", "I moved out of Rome last year", "The user no longer lives in Rome."),
        ("I live in Rome", "I moved out of Rome recently.", "The user no longer lives in Rome."),
        ("I live in Rome, Italy", "I moved out of Rome, Italy in 2023", "The user no longer lives in Rome, Italy."),
    ],
)  # fmt: skip
async def test_an_end_names_the_place_without_when_it_ended(
    amem: AsyncMemory, before: str, ending: str, now: str | None
) -> None:
    await amem.add(before, **U, timestamp=T1)
    out = await amem.add(ending, **U, timestamp=T2)
    ended = [(r.event, r.text) for r in out if r.kind == "profile"]
    assert ended == ([] if now is None else [(Event.SUPERSEDE, now)])


@pytest.mark.parametrize(
    "text",
    [
        "I left for work",
        "I left the party early",
        "I quit smoking",
        "my wife and I just left for our European vacation",
        "I left my keys",
        "I left work early today",
        "I resigned from the committee",
    ],
)
async def test_leaving_what_is_no_employer_states_nothing(amem: AsyncMemory, text: str) -> None:
    """Nothing is drafted at all, not only dropped for want of a workplace it ends."""
    assert extract_statements(text, "user", BETWEEN) == []
    out = await amem.add(
        [{"role": "user", "content": "I work at Acme"}, {"role": "user", "content": text}], **U
    )
    assert [r.text for r in out if r.kind != "episode"] == ["The user works at Acme."]
    assert await profile(amem, include_expired=True) == ["The user works at Acme."]


@pytest.mark.parametrize(
    ("before", "again", "held"),
    [
        ("I work at Acme.", "I left Google. I work at Acme.", "The user works at Acme."),
        ("I live in Rome.", "I moved out of Milan. I live in Rome.", "The user lives in Rome."),
        ("I'm vegetarian.", "I'm no longer vegan. I'm vegetarian.", "The user is vegetarian."),
    ],
)
async def test_an_end_of_another_place_before_the_current_one_said_again_changes_nothing(
    amem: AsyncMemory, before: str, again: str, held: str
) -> None:
    """An end that names another place is no end of the current one: the current one said again
    after it is no new statement (it was stored again, superseding an identical copy of itself)."""
    [first] = [r for r in await amem.add(before, **U, timestamp=T1) if r.kind == "profile"]
    out = [r for r in await amem.add(again, **U, timestamp=T2) if r.kind == "profile"]
    assert [(r.event, r.text) for r in out] == [(Event.NOOP, held)]
    page = await amem.get_all(**U, filters={"kind": "profile"}, include_expired=True, limit=100)
    assert [(m.id, m.text, m.valid_to) for m in page.items] == [(first.id, held, None)]
    assert [h.event for h in await amem.history(first.id)] == [Event.ADD]


@pytest.mark.parametrize(
    "said",
    [
        "I don't live in Rome anymore starting next month",  # still to come
        "I don't live in Rome anymore, my mom says",  # someone else's words
        "I'm not living in Rome anymore, she said",
        "I don't work at Acme anymore from next week",
        "I don't live in Rome any more than you do",  # the idiom "any more than"
    ],
)
async def test_what_follows_anymore_is_read_as_after_no_longer(amem: AsyncMemory, said: str) -> None:
    await amem.add("I live in Rome. I work at Acme.", **U, timestamp=T1)
    out = await amem.add(said, **U, timestamp=T2)
    assert [r.kind for r in out] == ["episode"]
    assert await profile(amem, include_expired=True) == ["The user lives in Rome.", "The user works at Acme."]
