"""A past turn's day in the context is its UTC day, as the store reads it back, whatever offset the
record's time was given in (a record from an add's answer keeps the offset it was said at).

The test failed on the code before its fix (the day of the time's own offset: 2024-06-30).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from memoryd.context.builder import RELEVANT, Candidate, build_context
from memoryd.models import MemoryKind, MemoryRecord, content_hash

TEXT = "We went to the tram museum"


def turn(when: datetime) -> MemoryRecord:
    return MemoryRecord(
        id="01900001-0000-7000-8000-000000000000", text=TEXT, kind=MemoryKind.EPISODE, user_id="ana",
        agent_id=None, run_id="s1", metadata={}, role="user", actor=None, source_ids=(), event_time=when,
        created_at=when, updated_at=when, hash=content_hash(TEXT), valid_from=when,
    )  # fmt: skip


def test_a_turns_day_is_its_utc_day_whatever_offset_its_time_was_given_in() -> None:
    # 2024-06-30 21:00 at -07:00 is 2024-07-01 04:00 UTC: the day the same turn shows when read
    # back from the store (which keeps UTC), not the speaker's local day
    said = datetime(2024, 6, 30, 21, tzinfo=timezone(timedelta(hours=-7)))
    for when in (said, said.astimezone(UTC)):
        ctx = build_context([Candidate(turn(when), RELEVANT, 0.9)], 1000)
        assert ctx.items[0].text == f"(2024-07-01) user: {TEXT}"
