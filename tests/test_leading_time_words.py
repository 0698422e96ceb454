"""Fast mode reads a move or an end of the home or workplace said after when it was.

"Yesterday I quit Google", "Last week I left Acme", "This morning I moved out of Rome", "Today I
moved to Lisbon", 昨天我从谷歌辞职了, 去年我搬到了杭州 stated nothing: a statement had to start its
clause, and a leading time word hid it. Now a time now or past before "I" does not stop the
statement. A move "last year" is not dated (the home from when it is said, as "I moved to Nice last
year" already was); one "in 2023" still is. A time before a statement that is not a past event's
("去年我住在罗马": lived there then) still states nothing. "I left <Name>" after a time of day or a
day ("Tonight I left Target") is leaving a place, not a job: it ends nothing; nor does an end in a
year still to come ("In 2030 I left Google").
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memoryd import AsyncMemory
from tests.rule_helpers import U, profile, states_nothing, supersedes

T1, T2 = "2022-05-01T00:00:00Z", "2024-06-01T00:00:00Z"


@pytest.mark.parametrize(
    ("before", "said", "ended", "now"),
    [
        ("I work at Google", "Yesterday I quit Google", "The user works at Google.", "The user no longer works at Google."),
        ("I work at Acme", "Yesterday I resigned from Acme", "The user works at Acme.", "The user no longer works at Acme."),
        ("I work at Google", "Last year I left Google", "The user works at Google.", "The user no longer works at Google."),
        ("I work at Google", "Last month I left Google", "The user works at Google.", "The user no longer works at Google."),
        ("I work at Google", "In 2023 I left Google", "The user works at Google.", "The user no longer works at Google."),
        ("I work at Acme", "Last week, I left Acme", "The user works at Acme.", "The user no longer works at Acme."),
        ("I work at Acme", "This morning I quit my job at Acme", "The user works at Acme.", "The user no longer works at Acme."),
        ("I live in Rome", "Last year I moved out of Rome", "The user lives in Rome.", "The user no longer lives in Rome."),
        ("I live in Rome", "Today I moved to Lisbon", "The user lives in Rome.", "The user lives in Lisbon."),
        ("我在谷歌工作", "昨天我从谷歌辞职了", "用户在谷歌工作。", "用户不再在谷歌工作。"),
        ("我住在北京", "去年我搬到了杭州", "用户住在北京。", "用户住在杭州。"),
    ],
)  # fmt: skip
async def test_a_leading_time_word_does_not_stop_the_statement(
    amem: AsyncMemory, before: str, said: str, ended: str, now: str
) -> None:
    await supersedes(amem, before, said, ended, now, T1, T2)


@pytest.mark.parametrize("said", ["Last year I moved to Lisbon", "Last year, I moved to Lisbon"])
async def test_a_move_last_year_is_the_home_from_when_it_is_said(amem: AsyncMemory, said: str) -> None:
    """Not dated: "I moved to Nice last year" said after a home stated earlier that year supersedes
    it (test_move_statements), which a move dated to last year would not."""
    await amem.add("I live in Rome", **U, timestamp=T1)
    await amem.add(said, **U, timestamp=T2)
    [home] = (await amem.get_all(**U, filters={"kind": "profile"}, limit=10)).items
    assert (home.text, home.valid_from) == ("The user lives in Lisbon.", datetime(2024, 6, 1, tzinfo=UTC))


async def test_a_move_in_a_year_said_before_it_is_still_dated(amem: AsyncMemory) -> None:
    await amem.add("In 2023, I moved to Lisbon", **U, timestamp=T2)
    [home] = (await amem.get_all(**U, filters={"kind": "profile"}, limit=10)).items
    assert home.valid_from == datetime(2023, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "said",
    [
        "Yesterday I left my keys at the office",
        "Yesterday I left for work early",
        "Last year I quit smoking",
        "Yesterday I left Google?",
        "If yesterday I left Google, I'd be sad",
        "Next year I move to Lisbon",
        "去年我住在杭州",
        "去年，我住在杭州",
    ],
)
async def test_a_time_word_before_no_statement_states_nothing(amem: AsyncMemory, said: str) -> None:
    await amem.add("I live in Rome. I work at Google.", **U, timestamp=T1)
    out = await amem.add(said, **U, timestamp=T2)
    assert [r.kind for r in out] == ["episode"]
    current = ["The user lives in Rome.", "The user works at Google."]
    assert await profile(amem, include_expired=True) == current


@pytest.mark.parametrize(
    ("before", "said"),
    [
        ("I work at Target", "Tonight I left Target"),  # a place left that day, not a job
        ("I work at Starbucks", "This morning I left Starbucks"),
        ("I work at Google", "Yesterday I left Google"),
        ("I work at Target", "Earlier today I left Target"),
        ("I work at Starbucks", "Last night I left Starbucks"),
        ("I work at Google", "On Monday I left Google"),
        ("I work at Target", "This afternoon, I left Target"),
        ("I work at Google", "In 2030 I left Google"),  # a year still to come
        ("I work at Google", "I left Google in 2030"),
        ("I live in Rome", "In 2030 I moved out of Rome"),
    ],
)
async def test_leaving_a_place_on_a_day_or_in_a_year_to_come_ends_nothing(
    amem: AsyncMemory, before: str, said: str
) -> None:
    await states_nothing(amem, before, said, T1, T2)
