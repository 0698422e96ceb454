"""Fast mode takes only what holds now as the user's home, workplace or name.

"I live in Rome starting next year" made "The user lives in Rome starting next year." the current
home, ending Lisbon, and so did the Chinese "明年，我住在罗马" ("next year, I live in Rome"),
"我住在罗马，从明年开始" and the past "以前，我住在罗马" ("I used to live in Rome"). A statement
about another time than now gives no profile memory (the turn itself is still stored and found);
"now", "from now on" and "since …" are now.
"""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory
from tests.rule_helpers import U, profile, profile_change

BEFORE = "I live in Lisbon. I work at Acme."
CURRENT = ["The user lives in Lisbon.", "The user works at Acme."]


@pytest.mark.parametrize(
    "later",
    [
        # a start still to come
        "I live in Rome starting next year",
        "I live in Rome, starting next year.",
        "I live in Rome from next month",
        "I live in Rome next year",
        "I live in Rome as of next week",
        "I work at Google starting Monday",
        "I work at Google from January",
        "I work at Google from 2030 on",
        "I'm a nurse starting next month",
        "I'm going to live in Rome",
        "I'm gonna live in Rome",
        "I will work at Google from January",
        "I'll live in Rome",
        "Next year I live in Rome",
        "Starting next year, I live in Rome",
        "明年，我住在罗马",
        "从下个月开始，我住在罗马",
        "我住在罗马，从明年开始",
        "下个月起，我在谷歌工作",
        "我明年住在罗马",
        # a time gone
        "I lived in Rome",
        "I used to live in Rome",
        "I used to work at Google",
        "I worked at Google",
        "以前，我住在罗马",
        "去年，我住在罗马",
        "我以前住在罗马",
    ],
)
async def test_a_statement_about_another_time_replaces_nothing(amem: AsyncMemory, later: str) -> None:
    await amem.add(BEFORE, **U, timestamp="2024-01-01T00:00:00Z")
    out = await amem.add(later, **U, timestamp="2024-06-01T00:00:00Z")
    assert [r.kind for r in out] == ["episode"]  # no profile memory from it
    assert await profile(amem) == sorted(CURRENT)
    assert await profile(amem, include_expired=True) == sorted(CURRENT)  # nothing ended either
    hits = await amem.search(later, **U, filters={"kind": "episode"})
    assert hits and hits[0].memory.text == later  # the turn itself is kept and found
    block = await amem.context("where do I live and work?", **U)
    profile_part = block.text.split("## Relevant", 1)[0]
    assert "Rome" not in profile_part and "罗马" not in profile_part and "Google" not in profile_part


@pytest.mark.parametrize(
    ("later", "home"),
    [
        ("I live in Paris now", "The user lives in Paris."),
        ("I live in Paris from now on", "The user lives in Paris."),
        ("I live in Paris as of today", "The user lives in Paris."),
        ("I live in Paris since 2023", "The user lives in Paris."),
        ("从去年开始，我住在巴黎", "用户住在巴黎。"),  # since last year: now too
        # "now" leading the statement: what was, then what is
        ("Now I live in Paris", "The user lives in Paris."),
        ("Right now I live in Paris", "The user lives in Paris."),
        ("I now live in Paris", "The user lives in Paris."),
        ("I used to live in Rome but now I live in Paris", "The user lives in Paris."),
        ("I used to live in Rome, but now I live in Paris.", "The user lives in Paris."),
        ("现在我住在巴黎", "用户住在巴黎。"),
        ("以前我住在罗马，现在我住在巴黎", "用户住在巴黎。"),
        ("目前我住在巴黎", "用户住在巴黎。"),
    ],
)
async def test_what_holds_now_still_replaces_the_home(amem: AsyncMemory, later: str, home: str) -> None:
    await amem.add("I live in Lisbon", **U, timestamp="2024-01-01T00:00:00Z")
    await amem.add(later, **U, timestamp="2024-06-01T00:00:00Z")
    assert await profile(amem) == [home]


async def test_a_workplace_from_home_is_still_a_workplace(amem: AsyncMemory) -> None:
    await amem.add("I work at Acme", **U, timestamp="2024-01-01T00:00:00Z")
    await amem.add("I work at Google from home", **U, timestamp="2024-06-01T00:00:00Z")
    assert await profile(amem) == ["The user works at Google from home."]


@pytest.mark.parametrize(
    "said",
    ["I know now I like tea", "now I would like tea", "If I move, now I live in Paris", "I will now live in Paris"],
)
async def test_now_inside_another_statement_or_a_hedge_states_nothing(amem: AsyncMemory, said: str) -> None:
    await amem.add("I live in Lisbon", **U, timestamp="2024-01-01T00:00:00Z")
    out = await amem.add(said, **U, timestamp="2024-06-01T00:00:00Z")
    assert [r.kind for r in out] == ["episode"]
    assert await profile(amem) == ["The user lives in Lisbon."]


@pytest.mark.parametrize(
    ("said", "now"),
    [
        # a year after "from"/"as of" not after the year it was said in
        ("I work at Google from 2019", "The user works at Google from 2019."),
        ("I work at Google as of 2023", "The user works at Google as of 2023."),
        ("I work at Google as of 2024", "The user works at Google as of 2024."),
        ("I live in Rome, as of January 2020", "The user lives in Rome."),
        # a schedule, not a start
        ("I work at the hospital from Monday to Friday", "The user works at the hospital from Monday to Friday."),
        ("I live in Rome from March to October", "The user lives in Rome from March to October."),
        # names, not times
        ("I work at Tomorrow.io", "The user works at Tomorrow.io."),
        ("I live in Tomorrowland", "The user lives in Tomorrowland."),
        ("I work at Soon Labs", "The user works at Soon Labs."),
        ("I work at Next Year Inc", "The user works at Next Year Inc."),
        # the time is another clause's
        ("I live in Berlin, in two weeks I fly to Rome", "The user lives in Berlin."),
        ("I work at Google and start a new project tomorrow", "The user works at Google."),
    ],
)
async def test_a_time_that_is_no_later_start_keeps_the_statement(amem: AsyncMemory, said: str, now: str) -> None:
    change = await profile_change(amem, BEFORE, said, "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z")
    assert (change.event, change.text) == ("SUPERSEDE", now)
    assert now in await profile(amem)


@pytest.mark.parametrize("said", ["I work at Google from 2025", "I live in Rome as of March 2025"])
async def test_a_year_is_later_by_when_the_statement_was_said(amem: AsyncMemory, said: str) -> None:
    await amem.add(BEFORE, **U, timestamp="2024-01-01T00:00:00Z")
    out = await amem.add(said, **U, run_id="then", timestamp="2024-06-01T00:00:00Z")
    assert [r.kind for r in out] == ["episode"]  # a plan in 2024
    out = await amem.add(said, **U, run_id="later", timestamp="2026-06-01T00:00:00Z")
    assert [r.kind for r in out] == ["episode", "profile"]  # how things are in 2026
