"""A move said after what came before it ("then", "later", 后来, 又) is read as any other move.

"Later I moved to Paris", "I lived in Rome, but later I moved to Paris", "后来我搬到了上海" and
"我又搬到了上海" stored no home: a statement had to start its clause or follow "and"/"but", and a
Chinese move had to start at 我. "I moved to Rome, and then I moved to Paris" stored Rome: its
second move was read as part of the first's object. "我住在北京，后来我又搬到了上海" stored nothing at all:
北京 is left later in its sentence, and the move after it went unread. Now these moves are read, and
of two in one message the later one is the home. Someone else's move, a hedge and a move away still
state no home. An ASCII comma between Chinese characters ends a clause as "，" does: "我住在北京,后来又
搬到了上海" stored 北京, read as one clause.
"""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory
from tests.rule_helpers import U, profile, states_nothing, supersedes

T1, T2 = "2022-05-01T00:00:00Z", "2024-06-01T00:00:00Z"


@pytest.mark.parametrize(
    ("said", "home"),
    [
        ("Later I moved to Paris", "The user lives in Paris."),
        ("Eventually I moved to Lisbon", "The user lives in Lisbon."),
        ("I lived in Rome, but later I moved to Paris", "The user lives in Paris."),
        ("I lived in Rome and then I moved to Paris", "The user lives in Paris."),
        ("I moved to Rome, and then I moved to Paris", "The user lives in Paris."),
        ("I moved to Rome and later moved to Paris", "The user lives in Paris."),
        ("I moved to Rome. Then I moved to Paris", "The user lives in Paris."),
        ("后来我搬到了上海", "用户住在上海。"),
        ("我又搬到了上海", "用户住在上海。"),
        ("我住在北京，后来我又搬到了上海", "用户住在上海。"),
        ("我在北京住了五年，后来我搬到了上海", "用户住在上海。"),
        ("我搬到了杭州，后来我又搬到了上海", "用户住在上海。"),
        # an ASCII comma between Chinese characters ends a clause, as "，" does
        ("我住在北京,后来又搬到了上海", "用户住在上海。"),
        ("去年我搬到了杭州, 后来我妹妹又搬回了北京", "用户住在杭州。"),
    ],
)
async def test_a_move_after_what_came_before_is_the_home(amem: AsyncMemory, said: str, home: str) -> None:
    await amem.add(said, **U, timestamp=T2)
    assert await profile(amem) == [home]


@pytest.mark.parametrize(
    ("before", "said", "ended", "now"),
    [
        ("I live in Rome", "Then I moved to Paris", "The user lives in Rome.", "The user lives in Paris."),
        ("我住在北京", "后来我又搬到了上海", "用户住在北京。", "用户住在上海。"),
    ],
)
async def test_a_later_move_supersedes_the_home_before_it(
    amem: AsyncMemory, before: str, said: str, ended: str, now: str
) -> None:
    await supersedes(amem, before, said, ended, now, T1, T2)


@pytest.mark.parametrize(
    "said",
    [
        "My sister moved to Rome and then moved to Paris",
        "If I get the job, then I moved to Paris",
        "I moved to Rome, but later I moved away",
        "后来我妹妹搬到了上海",
        "我妹妹后来搬到了上海",
    ],
)
async def test_no_home_of_the_speakers_is_read_from_these(amem: AsyncMemory, said: str) -> None:
    await states_nothing(amem, "I like tea", said, T1, T2)
