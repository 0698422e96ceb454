"""Fast mode reads a Chinese move or end with when it was said right after 我, as said before it.

"我去年搬到了杭州" stated nothing while "去年我搬到了杭州" was the home: the time word had to come before
我. Now 我去年…, 我上个月…, 我今年… are read the same way (a relative year gives no date: the home
from when it is said), as are an end of the home or workplace (我去年搬离了北京, 我昨天从谷歌辞职了).
A time after 我 that makes no past event ("我去年住在杭州": lived there then) or a plan ("我明年搬到
杭州") still states nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memoryd import AsyncMemory
from tests.rule_helpers import U, states_nothing, supersedes

T1, T2 = "2022-05-01T00:00:00Z", "2024-06-01T00:00:00Z"


@pytest.mark.parametrize(
    ("before", "said", "ended", "now"),
    [
        ("我住在北京", "我去年搬到了杭州", "用户住在北京。", "用户住在杭州。"),
        ("我住在北京", "我上个月搬到了杭州", "用户住在北京。", "用户住在杭州。"),
        ("我住在北京", "我今年搬到了杭州", "用户住在北京。", "用户住在杭州。"),
        ("我住在北京", "我上周刚搬到杭州了", "用户住在北京。", "用户住在杭州。"),
        ("我住在北京", "我去年搬离了北京", "用户住在北京。", "用户不再住在北京。"),
        ("我在谷歌工作", "我昨天从谷歌辞职了", "用户在谷歌工作。", "用户不再在谷歌工作。"),
    ],
)  # fmt: skip
async def test_a_time_word_after_wo_does_not_stop_the_statement(
    amem: AsyncMemory, before: str, said: str, ended: str, now: str
) -> None:
    await supersedes(amem, before, said, ended, now, T1, T2)


@pytest.mark.parametrize("said", ["我去年搬到了杭州", "去年我搬到了杭州"])
async def test_a_move_last_year_is_the_home_from_when_it_is_said(amem: AsyncMemory, said: str) -> None:
    await amem.add(said, **U, timestamp=T2)
    [home] = (await amem.get_all(**U, filters={"kind": "profile"}, limit=10)).items
    assert (home.text, home.valid_from) == ("用户住在杭州。", datetime(2024, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "said",
    [
        "我去年住在杭州",
        "我明年搬到杭州",
        "如果我去年搬到了杭州，我会很开心",
        "我去年搬到了杭州，今年又搬回了北京",
    ],
)
async def test_a_time_after_wo_with_no_move_now_states_nothing(amem: AsyncMemory, said: str) -> None:
    await states_nothing(amem, "我住在北京", said, T1, T2)
