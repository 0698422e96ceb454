"""A new job is the workplace, as "I work at …" states it.

"I just started a new job at Spotify", "I got a job at Netflix last month" and "I've started
working for Acme" stored no workplace, so the one said before stayed current. Now each is "The
user works at …", on the workplace's timeline (ending the one before it), with when it began read
as a move's is ("in 2019", "two weeks ago"; said after the workplace, no part of it). A job offer,
a plan, a hedge, someone else's job and a workplace that is none ("at home") state nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memoryd import AsyncMemory
from tests.rule_helpers import U, profile, states_nothing, supersedes

T1, T2 = "2022-05-01T00:00:00Z", "2024-06-01T00:00:00Z"
SAID_AT = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("said", "text", "since"),
    [
        ("I just started a new job at Spotify", "The user works at Spotify.", None),
        ("I got a job at Netflix last month", "The user works at Netflix.", None),
        ("I've started working for Acme Corp", "The user works at Acme Corp.", None),
        ("I got the job at Google!", "The user works at Google.", None),
        ("Yesterday I started a new job at Spotify", "The user works at Spotify.", None),
        ("I started working for Acme Corp in 2019", "The user works at Acme Corp.", datetime(2019, 1, 1, tzinfo=UTC)),
        ("I landed a job with Deloitte two weeks ago", "The user works at Deloitte.", datetime(2024, 5, 18, tzinfo=UTC)),
        ("I took a job at the hospital downtown, and I love it", "The user works at the hospital downtown.", None),
    ],
)
async def test_a_new_job_is_the_workplace(amem: AsyncMemory, said: str, text: str, since: datetime | None) -> None:
    out = await amem.add(said, **U, timestamp=T2)
    [made] = [r for r in out if r.kind == "profile"]
    assert made.text == text and made.memory is not None
    assert made.memory.valid_from == (since or SAID_AT)
    assert await profile(amem) == [text]


async def test_a_new_job_ends_the_workplace_before_it(amem: AsyncMemory) -> None:
    ended, now = "The user works at Acme.", "The user works at Spotify."
    await supersedes(amem, "I work at Acme", "I just started a new job at Spotify", ended, now, T1, T2)


@pytest.mark.parametrize(
    "said",
    [
        "I got a job offer from Google",
        "I got a job at home",
        "If I got a job at Google I would move",
        "I hope I got the job at Google",
        "My sister got a job at Google",
        "I'm starting a new job at Spotify next month",
        "I started a new job at Spotify in 2030",
        "Did I get the job at Google?",
    ],
)
async def test_these_state_no_workplace(amem: AsyncMemory, said: str) -> None:
    await states_nothing(amem, "I work at Acme", said, T1, T2)
