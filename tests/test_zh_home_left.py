"""A Chinese home left later in its sentence is no home now.

"我住在北京，后来又搬走了" (I lived in Beijing, later moved away) stored 用户住在北京 as the current home:
only a move (搬到) was undone by what follows it. Now a 我住在… clause followed in its sentence by the
speaker's move away (搬走, 后来回了…) states nothing, as "I lived in Rome, but later I moved away"
does in English (后来又搬到了上海 makes 上海 the home: test_zh_subjectless_moves). A move to it ("是从上海搬回来的", "去年刚搬过来"), a move from another
place ("搬离了上海") or someone else's ("后来我妹妹搬走了") leaves it the home.
"""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory
from tests.rule_helpers import U, profile

T1 = "2024-06-01T00:00:00Z"


@pytest.mark.parametrize(
    "said",
    [
        "我住在北京，后来又搬走了",
        "我住在北京，后来搬走了",
        "我住在北京，后来回了上海",
        "I lived in Rome, but later I moved away",
    ],
)
async def test_a_home_left_later_in_its_sentence_is_no_home(amem: AsyncMemory, said: str) -> None:
    out = await amem.add(said, **U, timestamp=T1)
    assert [r.kind for r in out] == ["episode"]
    assert await profile(amem, include_expired=True) == []


@pytest.mark.parametrize(
    ("said", "home"),
    [
        ("我住在北京，是从上海搬回来的", "用户住在北京。"),
        ("我住在北京，去年刚搬过来", "用户住在北京。"),
        ("我住在北京，搬离了上海", "用户住在北京。"),
        ("我住在北京，后来我妹妹搬走了", "用户住在北京。"),
        ("我住在北京，我很喜欢这里", "用户住在北京。"),
        # going home, replying, visiting, leaving work, moving things or house within it: no leaving
        ("我住在北京，后来回家了。", "用户住在北京。"),
        ("我住在北京，后来回复了他的邮件。", "用户住在北京。"),
        ("我住在北京，后来回去看了看父母。", "用户住在北京。"),
        ("我住在北京，下班后就离开了。", "用户住在北京。"),
        ("我住在北京，然后搬了张桌子。", "用户住在北京。"),
        ("我住在北京，后来把书搬走了。", "用户住在北京。"),
        ("我住在北京，后来又搬了一次家。", "用户住在北京。"),
    ],
)
async def test_a_home_followed_by_no_leaving_of_its_own_is_the_home(
    amem: AsyncMemory, said: str, home: str
) -> None:
    await amem.add(said, **U, timestamp=T1)
    assert await profile(amem) == [home]
