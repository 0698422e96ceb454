"""A date a query names is the asker's: a day (or month) in ``reference_time``'s UTC offset, UTC when it
has none or none is given; and with no ``reference_time`` (nor ``as_of``) "yesterday" is read against
the memory's clock (``AsyncMemory(clock=...)``).

Before, "on 3 May 2023" asked at +08:00 named the UTC day (3 May 08:00 to 4 May 08:00 there), and a
search read "yesterday" against the wall clock whatever clock the memory was built with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from memoryd import AsyncMemory, Settings, load_settings
from memoryd.context.builder import RELEVANT
from memoryd.embedders.use import USEEmbedder
from memoryd.retrieval.when import query_span
from tests.api.conftest import running_server

PLUS8 = timezone(timedelta(hours=8))
# 3 May 04:00 at +08:00 (still 2 May in UTC) and 4 May 04:00 at +08:00 (still 3 May in UTC)
POTTERY = ("I visited the pottery studio with my aunt.", "2023-05-02T20:00:00Z")
CLIMBING = ("I visited the climbing gym with my aunt.", "2023-05-03T20:00:00Z")
ASKED = "What did I visit with my aunt on 3 May 2023?"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_named_day_or_month_is_in_the_offset_of_now() -> None:
    now = datetime(2023, 6, 1, 9, tzinfo=PLUS8)
    assert query_span("on 3 May 2023", now) == (utc(2023, 5, 2, 16), utc(2023, 5, 3, 16))
    assert query_span("2023-05-03", now) == (utc(2023, 5, 2, 16), utc(2023, 5, 3, 16))
    assert query_span("in May 2023", now) == (utc(2023, 4, 30, 16), utc(2023, 5, 31, 16))
    west = datetime(2023, 6, 1, 9, tzinfo=timezone(timedelta(hours=-5)))
    assert query_span("on May 3, 2023", west) == (utc(2023, 5, 3, 5), utc(2023, 5, 4, 5))
    for plain in (None, datetime(2023, 6, 1, 9), utc(2023, 6, 1, 9)):  # no offset: UTC days, as before
        assert query_span("on 3 May 2023", plain) == (utc(2023, 5, 3), utc(2023, 5, 4))
    # a weekday just gone is the asker's too: Thursday 13 June 2024 00:30 at +08:00 is the 12th in UTC
    thursday = datetime(2024, 6, 13, 0, 30, tzinfo=PLUS8)
    assert query_span("last Tuesday", thursday) == (utc(2024, 6, 9, 16), utc(2024, 6, 12, 16))


@pytest.fixture
def exact_days(tmp_path: Path) -> Settings:
    """No slack around a named date: a day is its 24 hours, so a boundary shows."""
    return load_settings(
        env={},
        overrides={"storage": {"path": str(tmp_path / "memoryd.db")}, "search": {"date_slack_days": 0}},
    )


@pytest.fixture
async def dmem(exact_days: Settings, embedder: USEEmbedder) -> AsyncIterator[AsyncMemory]:
    mem = await AsyncMemory(exact_days, embedder=embedder).open()
    try:
        yield mem
    finally:
        await mem.close()


async def _matches(mem: AsyncMemory, **how: object) -> tuple[list[str], dict[str, object]]:
    hits = await mem.search(ASKED, user_id="mei", explain=True, **how)  # type: ignore[arg-type]
    return [h.memory.text for h in hits], {h.memory.text: (h.explain or {})["date_match"] for h in hits}


async def test_a_named_day_is_the_reference_times_day(dmem: AsyncMemory) -> None:
    for text, when in (POTTERY, CLIMBING):
        await dmem.add(text, user_id="mei", timestamp=when)
    order, matched = await _matches(dmem, reference_time="2023-05-10T09:00:00+08:00")
    assert matched == {POTTERY[0]: True, CLIMBING[0]: False}
    assert order[0] == POTTERY[0]
    # no offset, UTC, or no reference time: the UTC day
    for utc_now in (None, "2023-05-10T01:00:00Z", "2023-05-10T01:00:00", datetime(2023, 5, 10, 1)):
        order, matched = await _matches(dmem, reference_time=utc_now)
        assert matched == {POTTERY[0]: False, CLIMBING[0]: True}, utc_now
        assert order[0] == CLIMBING[0]
    # as_of with an offset is a cut in time, not the asker's zone: the UTC day
    _, matched = await _matches(dmem, as_of="2023-05-10T09:00:00+08:00")
    assert matched == {POTTERY[0]: False, CLIMBING[0]: True}


def test_over_http_a_named_day_is_the_reference_times_day(
    exact_days: Settings, embedder: USEEmbedder
) -> None:
    with running_server(exact_days, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        for text, when in (POTTERY, CLIMBING):
            body = {"messages": [{"role": "user", "content": text}], "user_id": "mei", "timestamp": when}
            assert c.post("/v1/memories", json=body).status_code == 200
        ask = {"query": ASKED, "user_id": "mei", "explain": True}
        for ref, said_then in (
            ("2023-05-10T09:00:00+08:00", POTTERY[0]),
            ("2023-05-10T01:00:00Z", CLIMBING[0]),
        ):
            reply = c.post("/v1/memories/search", json={**ask, "reference_time": ref})
            assert reply.status_code == 200, reply.text
            hits = reply.json()["results"]
            assert hits[0]["memory"] == said_then, ref
            assert {h["memory"]: h["explain"]["date_match"] for h in hits} == {
                POTTERY[0]: said_then == POTTERY[0],
                CLIMBING[0]: said_then == CLIMBING[0],
            }


async def test_yesterday_is_read_against_the_memorys_clock(
    exact_days: Settings, embedder: USEEmbedder
) -> None:
    def clock() -> datetime:
        return utc(2024, 6, 2, 12)

    async with AsyncMemory(exact_days, embedder=embedder, clock=clock) as mem:
        # the older one is the closer match in words: only the date lifts the race
        [race] = await mem.add("I did a 5k run in the park", user_id="ana", timestamp="2024-06-01T09:00:00Z")
        [chores] = await mem.add("I ran errands yesterday", user_id="ana", timestamp="2024-05-20T09:00:00Z")
        hits = await mem.search("what did I run yesterday?", user_id="ana", explain=True)
        assert {h.memory.id: (h.explain or {})["date_match"] for h in hits} == {
            race.id: True,
            chores.id: False,
        }
        assert hits[0].memory.id == race.id
        # a context reads it against the same clock
        ctx = await mem.context("what did I run yesterday?", user_id="ana")
        relevant = [i.text for i in ctx.items if i.section == RELEVANT]
        assert relevant[0].endswith("I did a 5k run in the park"), relevant


async def test_recency_is_age_at_the_memorys_clock(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = load_settings(
        env={}, overrides={"storage": {"path": str(tmp_path / "r.db")}, "search": {"recency_weight": 1.0}}
    )
    async with AsyncMemory(settings, embedder=embedder, clock=lambda: utc(2024, 6, 2, 12)) as mem:
        await mem.add("I went sailing on the lake", user_id="u", timestamp="2024-06-02T12:00:00Z")
        [hit] = await mem.search("sailing", user_id="u", explain=True)
        assert (hit.explain or {})["recency"] == 1.0  # said at the clock's now: age 0
