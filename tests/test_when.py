"""Dates named in a query, and the boost they give to what was said then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.models import parse_time
from memoryd.retrieval.when import query_span


def day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


def test_days_months_and_formats() -> None:
    assert query_span("What did Caroline share on October 13, 2023?") == (day(2023, 10, 13), day(2023, 10, 14))
    assert query_span("as mentioned on 3 June, 2023") == (day(2023, 6, 3), day(2023, 6, 4))
    assert query_span("on the 31st of July 2023") == (day(2023, 7, 31), day(2023, 8, 1))
    assert query_span("in December 2022") == (day(2022, 12, 1), day(2023, 1, 1))
    assert query_span("log from 2024-02-29") == (day(2024, 2, 29), day(2024, 3, 1))
    assert query_span("我2023年7月去了哪里") == (day(2023, 7, 1), day(2023, 8, 1))
    assert query_span("2023年7月5日发生了什么") == (day(2023, 7, 5), day(2023, 7, 6))


def test_no_or_impossible_dates() -> None:
    assert query_span("what did we talk about last week?") is None
    assert query_span("May I ask about 2023?") is None
    assert query_span("on February 30, 2023") is None


@given(st.text())
def test_never_raises(text: str) -> None:
    query_span(text)


async def test_a_named_date_favours_what_was_said_then(amem: AsyncMemory) -> None:
    await amem.add("I started pottery classes.", user_id="maria", run_id="s1", timestamp="2023-03-01T10:00:00Z")
    june = await amem.add(
        "I started volunteering at the shelter.", user_id="maria", run_id="s2", timestamp="2023-06-03T10:00:00Z"
    )
    hits = await amem.search("What new activity did Maria start, as mentioned on 3 June, 2023?", user_id="maria")
    assert hits[0].memory.id == june[0].id
    march = await amem.search("What new activity did Maria start on 1 March, 2023?", user_id="maria")
    assert march[0].memory.text == "I started pottery classes."


def test_relative_dates_need_a_now() -> None:
    now = day(2022, 4, 12)
    assert query_span("what did I cook a couple of days ago?") is None  # no now: not read
    assert query_span("what did I cook a couple of days ago?", now) == (day(2022, 4, 9), day(2022, 4, 11))
    assert query_span("the event a week ago", now) == (
        datetime(2022, 4, 1, 12, tzinfo=UTC),
        datetime(2022, 4, 8, 12, tzinfo=UTC),
    )
    assert query_span("what happened yesterday", now) == (day(2022, 4, 10), now)
    assert query_span("my trip last month", now) == (day(2022, 2, 11), now)
    # An explicit date wins over a relative one.
    assert query_span("on 3 June, 2023, a week ago", now) == (day(2023, 6, 3), day(2023, 6, 4))


def test_weekdays_parts_of_today_and_chinese_relative_dates() -> None:
    now = datetime(2024, 6, 13, 15, tzinfo=UTC)  # a Thursday
    tuesday = (day(2024, 6, 10), day(2024, 6, 13))  # Tuesday 11 June, a day either side
    assert query_span("what did I do last Tuesday?", now) == query_span("this past Tuesday", now) == tuesday
    assert query_span("上周二", now) == (day(2024, 6, 3), day(2024, 6, 6))  # the previous calendar week's
    assert query_span("我上个星期天去了哪里", now) == (day(2024, 6, 8), day(2024, 6, 11))
    hour = timedelta(hours=1)
    assert query_span("the day before yesterday", now) == query_span("前天", now) == (now - 72 * hour, now - 24 * hour)
    assert query_span("last night's dinner", now) == query_span("昨晚", now) == (now - 48 * hour, now)
    assert query_span("what did I say earlier today?", now) == (now - 24 * hour, now)
    assert query_span("我三天前做了什么", now) == query_span("3 days ago", now)
    assert query_span("两个月前", now) == query_span("two months ago", now)
    assert query_span("十五天以前", now) == query_span("15 days ago", now)
    assert query_span("一周前", now) == query_span("a week ago", now)
    assert query_span("上周我们聊了什么", now) == query_span("last week", now)
    assert query_span("上个月", now) == query_span("last month", now)
    assert query_span("去年的旅行", now) == query_span("last year", now)
    # no past time named: a habit, "today" as in now, what is to come, an unknown count, a bare weekday
    for query in (
        "Tuesday yoga", "how old am I today?", "any film ideas for tonight?", "今天是几号", "今晚吃什么", "多年前的事",
        "What time did I reach the clinic on Monday?", "我周二做了什么",  # a day an older talk may have named
    ):  # fmt: skip
        assert query_span(query, now) is None, query


async def test_reference_time_reads_relative_dates(amem: AsyncMemory) -> None:
    old = await amem.add("I cooked lasagna for my friend.", user_id="u", run_id="a", timestamp="2022-03-01T10:00:00Z")
    new = await amem.add("I cooked a curry for my friend.", user_id="u", run_id="b", timestamp="2022-04-10T10:00:00Z")
    asked = "What did I cook for my friend a couple of days ago?"
    hits = await amem.search(asked, user_id="u", reference_time="2022-04-12T20:00:00Z")
    assert hits[0].memory.id == new[0].id
    hits = await amem.search(asked, user_id="u", reference_time="2022-03-03T20:00:00Z")
    assert hits[0].memory.id == old[0].id


def test_a_now_at_the_ends_of_the_datetime_range_names_no_span_and_never_raises() -> None:
    first, last = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    for query in ("what did I do yesterday", "3 years ago", "last month"):
        assert query_span(query, first) is None
    assert query_span("what did I do yesterday", last) == (datetime(9999, 12, 29, 23, 59, 59, 999999, UTC), last)
    start, end = query_span("3 years ago", last) or (last, last)
    assert start < end < last


async def test_search_with_a_reference_time_at_either_end_of_the_range(amem: AsyncMemory) -> None:
    await amem.add("I had dinner with Carla.", user_id="u", timestamp="2024-05-01T20:00:00Z")
    for when in ("0001-01-01T00:00:00Z", "0001-03-01T00:00:00Z", "9999-12-31T23:59:59Z"):
        for query in ("what did I do yesterday?", "dinner last month"):
            hits = await amem.search(query, user_id="u", reference_time=when)
            assert [h.memory.text for h in hits] == ["I had dinner with Carla."]


async def test_explain_shows_the_date_part_of_a_score(amem: AsyncMemory) -> None:
    await amem.add("We went hiking in the Alps.", user_id="u", timestamp="2023-07-14T10:00:00Z")
    await amem.add("We went hiking in the Andes.", user_id="u", timestamp="2024-02-02T10:00:00Z")
    for hit in await amem.search("where did we go hiking in July 2023", user_id="u", explain=True):
        why = hit.explain or {}
        assert why["date_match"] is ("Alps" in hit.memory.text)
        weight = why["date_weight"]
        assert why["final"] == pytest.approx((why["fused"] + (weight if why["date_match"] else 0.0)) / (1 + weight), abs=1e-5)
    plain = await amem.search("where did we go hiking", user_id="u", explain=True)
    assert all((h.explain or {})["date_match"] is None for h in plain)


def test_sept_is_september() -> None:
    assert query_span("What did Mel do on Sept 12, 2023?") == (day(2023, 9, 12), day(2023, 9, 13))
    assert query_span("photos from Sept. 2023") == (day(2023, 9, 1), day(2023, 10, 1))
    assert query_span("on 12 Sept 2023") == (day(2023, 9, 12), day(2023, 9, 13))


def test_a_count_is_never_the_tail_of_a_bigger_number() -> None:
    now = day(2024, 1, 10)
    # "1,000 days ago" was read as "000 days ago" (the last day), "1.5 years ago" as "5 years ago".
    assert query_span("what did I plant 1,000 days ago?", now) is None
    assert query_span("the move 1.5 years ago", now) is None
    assert query_span("what did I plant (3 days ago)?", now) == (
        datetime(2024, 1, 5, 12, tzinfo=UTC),
        datetime(2024, 1, 8, 12, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00z", datetime(2024, 5, 1, 10, tzinfo=UTC)),  # RFC 3339: either case
        ("1714557600", datetime(2024, 5, 1, 10, tzinfo=UTC)),  # epoch seconds as a command line gives them
        ("20240501", datetime(2024, 5, 1, tzinfo=UTC)),  # digits that are an ISO date stay a date
    ],
)
def test_times_written_as_text(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected


async def test_yesterday_is_the_day_before_as_of_when_no_reference_time_is_given(amem: AsyncMemory) -> None:
    [run] = await amem.add("I ran a 5k race in the park", user_id="ana", timestamp="2024-06-01T09:00:00Z")
    await amem.add("I ran errands downtown", user_id="ana", timestamp="2024-05-20T09:00:00Z")
    hits = await amem.search("what did I run yesterday?", user_id="ana", as_of="2024-06-02T12:00:00Z", explain=True)
    parts = {h.memory.id: h.explain for h in hits}
    assert parts[run.id] is not None and parts[run.id]["date_match"] is True


async def test_with_recency_on_the_top_hit_does_not_depend_on_the_limit(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = load_settings(
        env={}, overrides={"storage": {"path": str(tmp_path / "r.db")}, "search": {"recency_weight": 1.0}}
    )
    async with AsyncMemory(settings, embedder=embedder) as mem:
        for trip in range(12):  # many old, closely matching notes; the newest matches less well
            await mem.add(f"I went sailing on the lake with my sailing club, trip {trip}", user_id="u",
                          run_id=f"old{trip}", timestamp="2022-01-01T00:00:00Z")  # fmt: skip
        await mem.add("Sailing was fun yesterday", user_id="u", run_id="new", timestamp="2024-06-01T00:00:00Z")
        tops = {}
        for limit in (1, 3, 10, 20):
            hits = await mem.search("sailing trip on the lake", user_id="u", limit=limit, reference_time="2024-06-02T00:00:00Z")
            tops[limit] = hits[0].memory.text
    assert set(tops.values()) == {"Sailing was fun yesterday"}, tops  # recency lifts it whatever the limit
