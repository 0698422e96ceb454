"""``reference_time`` of a context: the asker's now, as search takes it. Relative dates in the query
("last Sunday", "yesterday") are read against it, and its UTC offset is the time zone the block's
dates are in (UTC when it has none, or when none is given).

Before it, a context read "last Sunday" against the host's clock whatever the conversation's dates
(a chat replayed from its log, an import, a benchmark), dated a turn said at 07:00 in Shanghai the
day before, and ``reference_time`` was refused as an unknown argument (a 422 over HTTP).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoryd import AsyncMemory, MemoryClient
from memoryd.context.builder import RELEVANT, Candidate, ContextItem, build_context
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import InvalidInputError
from memoryd.models import MemoryKind, MemoryRecord, content_hash
from tests.api.conftest import running_server

SHANGHAI = timezone(timedelta(hours=8))
# Wednesday 2024-05-08, noon: "last Sunday" is 2024-05-05
WEDNESDAY = datetime(2024, 5, 8, 12, tzinfo=UTC)
SUNDAY_TURN = "We had a picnic by the river with my nephew."
OTHER_TURN = "We had dinner at a new place by the river with my nephew."


async def _two_days(mem: AsyncMemory, user_id: str = "ana") -> None:
    await mem.add(SUNDAY_TURN, user_id=user_id, run_id="sun", timestamp="2024-05-05T15:00:00Z")
    await mem.add(OTHER_TURN, user_id=user_id, run_id="other", timestamp="2024-04-20T19:00:00Z")


def _relevant(items: Sequence[ContextItem] | Sequence[dict[str, Any]]) -> list[str]:
    """The texts of the relevant memories, best first (items of a Context or of its JSON)."""
    rows = [i.to_dict() if isinstance(i, ContextItem) else i for i in items]
    return [str(r["text"]) for r in rows if r["section"] == RELEVANT]


async def test_last_sunday_is_the_sunday_before_the_reference_time(rmem: AsyncMemory) -> None:
    await _two_days(rmem)
    query = "What did we do last Sunday?"
    asked = await rmem.context(query, user_id="ana", reference_time=WEDNESDAY)
    assert _relevant(asked.items)[0] == f"(2024-05-05) user: {SUNDAY_TURN}"
    # the same question with no reference time reads "last Sunday" against the clock (no turn then):
    # the turn closer to the query's words comes first, as it does for a question naming no day
    now = await rmem.context(query, user_id="ana")
    assert _relevant(now.items)[0] == f"(2024-04-20) user: {OTHER_TURN}"
    # an offset, naive times and epoch seconds are read as search reads them
    for same in ("2024-05-08T20:00:00+08:00", "2024-05-08T12:00:00", WEDNESDAY.timestamp()):
        again = await rmem.context(query, user_id="ana", reference_time=same)
        assert _relevant(again.items)[0].endswith(SUNDAY_TURN)


async def test_the_blocks_dates_are_in_the_reference_times_offset(rmem: AsyncMemory) -> None:
    # 07:00 in Shanghai on the 5th is 23:00 UTC on the 4th
    await rmem.add(SUNDAY_TURN, user_id="li", run_id="s", timestamp="2024-05-05T07:00:00+08:00")
    local = await rmem.context("picnic", user_id="li", reference_time="2024-05-08T09:00:00+08:00")
    assert [(i.lead, i.text) for i in local.items] == [
        ("(2024-05-05) user: ", f"(2024-05-05) user: {SUNDAY_TURN}")
    ]
    assert local.text.endswith(f"(2024-05-05) user: {SUNDAY_TURN}")
    for utc in (None, "2024-05-08T01:00:00Z", datetime(2024, 5, 8, 1)):  # no offset: UTC, as before
        ctx = await rmem.context("picnic", user_id="li", reference_time=utc)
        assert _relevant(ctx.items) == [f"(2024-05-04) user: {SUNDAY_TURN}"]


async def test_a_bad_reference_time_is_refused_naming_it(rmem: AsyncMemory) -> None:
    for bad in ("next tuesday", True, [2024], "2024-13-01"):
        with pytest.raises(InvalidInputError) as err:
            await rmem.context("x", user_id="ana", reference_time=bad)
        assert err.value.field == "reference_time"


def test_the_builder_dates_a_turn_in_the_zone_it_is_given() -> None:
    said = datetime(2024, 5, 4, 23, tzinfo=UTC)
    turn = MemoryRecord(
        id="01900001-0000-7000-8000-000000000001", text="hi", kind=MemoryKind.EPISODE, user_id="li",
        agent_id=None, run_id="s", metadata={}, role="user", actor=None, source_ids=(), event_time=said,
        created_at=said, updated_at=said, hash=content_hash("hi"), valid_from=said,
    )  # fmt: skip
    cands = [Candidate(turn, RELEVANT, 0.5)]
    assert build_context(cands, 100).items[0].lead == "(2024-05-04) user: "
    assert build_context(cands, 100, tz=SHANGHAI).items[0].lead == "(2024-05-05) user: "
    assert build_context(cands, 100, tz=timezone(timedelta(hours=-5))).items[0].lead == "(2024-05-04) user: "


def test_over_http_the_context_takes_a_reference_time(tmp_path: Path, embedder: USEEmbedder) -> None:
    from memoryd import load_settings

    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "memoryd.db")}})
    with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        for text, when in ((SUNDAY_TURN, "2024-05-05T07:00:00+08:00"), (OTHER_TURN, "2024-04-20T19:00:00Z")):
            body = {"messages": [{"role": "user", "content": text}], "user_id": "li", "timestamp": when}
            assert c.post("/v1/memories", json=body).status_code == 200
        ask = {"query": "What did we do last Sunday?", "user_id": "li"}
        reply = c.post("/v1/context", json={**ask, "reference_time": "2024-05-08T20:00:00+08:00"})
        assert reply.status_code == 200, reply.text
        assert _relevant(reply.json()["items"])[0] == f"(2024-05-05) user: {SUNDAY_TURN}"
        bad = c.post("/v1/context", json={**ask, "reference_time": "someday"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "reference_time"
        with MemoryClient(server.url, timeout=30) as remote:  # the remote client sends it, offset kept
            ref = datetime(2024, 5, 8, 20, tzinfo=SHANGHAI)
            ctx = remote.context("What did we do last Sunday?", user_id="li", reference_time=ref)
            assert _relevant(ctx.items)[0] == f"(2024-05-05) user: {SUNDAY_TURN}"
