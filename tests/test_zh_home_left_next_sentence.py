"""A Chinese home followed in its turn by a sentence that only says the speaker moved away is no home.

"我住在北京，后来又搬走了" stated nothing, but "我住在北京。后来搬走了。" (two sentences in one turn)
stored 用户住在北京 as the current home: only the rest of the home's own sentence was read. Now the
sentence right after it, when all it says is that the speaker moved away (后来搬走了, 后来又搬走了,
后来我又搬走了), undoes it as a clause of its sentence does. One naming someone else (后来我妹妹搬走了),
a question (后来搬走了吗？) or one saying more (后来搬走了，因为…) leaves the home as it was.
"""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory
from tests.rule_helpers import U, profile, states_nothing

T1, T2 = "2022-05-01T00:00:00Z", "2024-06-01T00:00:00Z"


@pytest.mark.parametrize(
    "said",
    [
        "我住在北京。后来搬走了。",
        "我住在北京。后来又搬走了",
        "我住在北京！后来我又搬走了。",
        "我住在北京，我很喜欢那里。后来又搬走了。",
        "去年我搬到了北京。后来又搬走了。",
    ],
)
async def test_a_home_then_a_sentence_moving_away_is_no_home(amem: AsyncMemory, said: str) -> None:
    await states_nothing(amem, "我住在杭州", said, T1, T2)


@pytest.mark.parametrize(
    "said",
    [
        "我住在北京。后来我妹妹搬走了。",
        "我住在北京。后来搬走了吗？",
        "我住在北京。后来搬走了，因为房租太贵。",
        "我住在北京。我很喜欢这里。后来搬走了。",
    ],
)
async def test_a_home_then_no_sentence_of_the_speaker_moving_away_is_the_home(
    amem: AsyncMemory, said: str
) -> None:
    await amem.add("我住在杭州", **U, timestamp=T1)
    await amem.add(said, **U, timestamp=T2)
    assert await profile(amem) == ["用户住在北京。"]


async def test_a_home_said_after_the_move_away_is_the_home(amem: AsyncMemory) -> None:
    await amem.add("我住在杭州", **U, timestamp=T1)
    await amem.add("我住在北京。后来又搬走了。现在我住在上海。", **U, timestamp=T2)
    assert await profile(amem) == ["用户住在上海。"]
    assert "用户住在北京。" not in await profile(amem, include_expired=True)
