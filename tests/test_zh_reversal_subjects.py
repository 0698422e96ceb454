"""A Chinese reversal later in a move's sentence undoes the move only when the speaker makes it.

"我去年搬到了杭州，后来我妹妹又搬回了北京" (my sister moved back to Beijing) stored nothing: 搬回, 又搬 and
后来…回 undid the move whoever made the reversal. Now one whose clause names another person before
its verb (我妹妹, 他, 我的朋友) leaves the speaker's move to 杭州 the home; the speaker's own
("今年又搬回了北京", "后来我又搬回了北京", "后来跟我父母一起搬回了北京") still undoes it.
"""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory, Event
from tests.rule_helpers import profile, profile_change, states_nothing

T1, T2 = "2022-05-01T00:00:00Z", "2024-06-01T00:00:00Z"


@pytest.mark.parametrize(
    "said",
    [
        "我去年搬到了杭州，后来我妹妹又搬回了北京",
        "去年我搬到了杭州，后来我妹妹又搬回了北京",
        "去年我搬到了杭州，他又搬走了",
        "我搬到了杭州，后来我的朋友搬回了北京",
    ],
)
async def test_someone_elses_reversal_leaves_the_speakers_move(amem: AsyncMemory, said: str) -> None:
    change = await profile_change(amem, "我住在北京", said, T1, T2)
    assert (change.event, change.text, change.previous) == (
        Event.SUPERSEDE,
        "用户住在杭州。",
        "用户住在北京。",
    )
    assert await profile(amem) == ["用户住在杭州。"]


@pytest.mark.parametrize(
    "said",
    [
        "去年我搬到了杭州，今年又搬回了北京",
        "我去年搬到了杭州，后来我又搬回了北京",
        "去年我搬到了杭州，后来跟我父母一起搬回了北京",
        "去年我搬到了杭州，我妹妹搬走了，后来我们又搬回了北京",
    ],
)
async def test_the_speakers_own_reversal_still_undoes_the_move(amem: AsyncMemory, said: str) -> None:
    await states_nothing(amem, "我住在北京", said, T1, T2)
