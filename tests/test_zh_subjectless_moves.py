"""A Chinese move clause with no subject of its own, after the speaker's clause, is the speaker's.

"我住在北京，后来又搬到了上海" (I lived in Beijing, later moved to Shanghai) stored no home: the later
clause 又搬到了上海 has no 我 (Chinese leaves the subject out), so no move was read, and 北京, left
later in its sentence, was no home either. Now a move clause whose words before its verb are only
when it was and adverbs (后来, 又, 今年, 然后…), right after a clause of the speaker's (我…) in its
sentence, is read as the speaker's: the home is 上海, and 北京 stored before it is ended. A clause
naming another subject (后来我妹妹搬到了上海, 他搬到了上海), one after someone else's clause
(我妹妹住在北京，后来搬到了上海) or one in another sentence is not the speaker's; only a known place
is a home, as for any move.
"""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory, Event
from tests.rule_helpers import U, profile, profile_change, states_nothing

T1, T2 = "2022-05-01T00:00:00Z", "2024-06-01T00:00:00Z"


@pytest.mark.parametrize(
    "said",
    [
        "我住在北京，后来又搬到了上海",
        "我去年住在北京，今年搬到了上海",
        "我以前住在北京，后来搬到了上海",
        "我住在北京，然后搬到上海了",
        "我住在北京，后来搬到了杭州，又搬到了上海",
    ],
)
async def test_a_move_with_no_subject_after_the_speakers_clause_is_the_home(
    amem: AsyncMemory, said: str
) -> None:
    out = await amem.add(said, **U, timestamp=T2)
    assert [r.text for r in out if r.kind == "profile"] == ["用户住在上海。"]
    assert await profile(amem, include_expired=True) == ["用户住在上海。"]


async def test_it_supersedes_the_home_stored_before(amem: AsyncMemory) -> None:
    change = await profile_change(amem, "我住在北京", "我住在北京，后来又搬到了上海", T1, T2)
    assert (change.event, change.text, change.previous) == (
        Event.SUPERSEDE,
        "用户住在上海。",
        "用户住在北京。",
    )
    assert await profile(amem) == ["用户住在上海。"]


@pytest.mark.parametrize(
    ("said", "home"),
    [
        ("我住在北京，后来我妹妹搬到了上海", "用户住在北京。"),
        ("我住在北京，他搬到了上海", "用户住在北京。"),
        ("我妹妹住在北京，后来搬到了上海", "用户住在杭州。"),
        ("我们住在北京，后来搬到了上海", "用户住在杭州。"),
        ("后来又搬到了上海", "用户住在杭州。"),
        ("我住在北京，后来又搬到了三楼", "用户住在杭州。"),
        ("如果我住在北京，后来又搬到了上海", "用户住在杭州。"),
        ("我住在北京，后来又搬到了上海吗", "用户住在杭州。"),
        ("我住在北京，然后回家了", "用户住在北京。"),
        # the clause before is the speaker's, but about someone else, or no home of theirs
        ("我有个妹妹，去年搬到了上海", "用户住在杭州。"),
        ("我有个朋友，去年搬到了上海", "用户住在杭州。"),
        ("我认识一个人，后来搬到了上海", "用户住在杭州。"),
        ("我不知道，后来搬到了上海", "用户住在杭州。"),
    ],
)
async def test_what_is_no_move_of_the_speakers_to_a_place_leaves_the_home(
    amem: AsyncMemory, said: str, home: str
) -> None:
    await amem.add("我住在杭州", **U, timestamp=T1)
    await amem.add(said, **U, timestamp=T2)
    assert await profile(amem) == [home]
    assert "用户住在上海。" not in await profile(amem, include_expired=True)


async def test_a_move_in_another_sentence_is_not_read_as_the_speakers(amem: AsyncMemory) -> None:
    await states_nothing(amem, "我住在杭州", "他住在北京。后来搬到了上海。", T1, T2)


async def test_a_long_run_of_adverbs_before_a_missing_move_is_read_at_once(amem: AsyncMemory) -> None:
    # "刚刚" is one word or two: a run of 刚 split every way before the verb it looked for was
    # missing took exponential time (a 50-character turn held the event loop for seconds; this one,
    # for longer than the test would run).
    await amem.add("我住在北京，" + "刚" * 80 + "x搬到了上海。", **U, timestamp=T2)
    assert await profile(amem) == ["用户住在北京。"]  # no move of the speaker's after it
