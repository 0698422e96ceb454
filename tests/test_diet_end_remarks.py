"""A remark after the end of a diet or an allergy is no part of what ends.

"I'm not vegan anymore, thankfully" ended nothing: the remark was read as part of the diet's name
("vegan anymore, thankfully" names no diet). Now a remark said after the end (", thankfully", ",
sadly", ", though") is left out, as a time said there ("… anymore now") already was. A hedge,
someone's speech, a time still to come or only some times after "anymore" still end nothing.
"""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory, Event
from tests.rule_helpers import profile, profile_change, states_nothing

T1, T2 = "2022-05-01T00:00:00Z", "2024-06-01T00:00:00Z"


@pytest.mark.parametrize(
    ("before", "said", "now"),
    [
        ("I'm vegan", "I'm not vegan anymore, thankfully", "The user is no longer vegan."),
        ("I'm vegan", "I'm not vegan anymore now, sadly", "The user is no longer vegan."),
        ("I'm vegan", "I'm no longer vegan, thankfully", "The user is no longer vegan."),
        ("I'm vegetarian", "I stopped being vegetarian, honestly", "The user is no longer vegetarian."),
        ("I'm vegan", "I'm not vegan anymore now", "The user is no longer vegan."),
        ("I'm allergic to peanuts", "I'm not allergic to peanuts anymore, luckily",
         "The user is no longer allergic to peanuts."),
    ],
)  # fmt: skip
async def test_a_remark_after_an_end_still_ends(amem: AsyncMemory, before: str, said: str, now: str) -> None:
    change = await profile_change(amem, before, said, T1, T2)
    assert (change.event, change.text) == (Event.SUPERSEDE, now)
    assert await profile(amem) == [now]


@pytest.mark.parametrize(
    "said",
    [
        "I'm not vegan anymore, thankfully, she said",
        "I'm not vegan anymore, thankfully, I think",
        "I'm not vegan anymore, she said",
        "I'm not vegan anymore starting tomorrow",
        "I'm not vegan anymore when I travel",
        "I'm not vegan any more than my dog is",
        "I'm not vegan anymore, I'm not sure",
        "I'm not vegan anymore, or so my sister claims",
    ],
)
async def test_a_hedge_or_speech_after_the_remark_still_ends_nothing(amem: AsyncMemory, said: str) -> None:
    await states_nothing(amem, "I'm vegan", said, T1, T2)
