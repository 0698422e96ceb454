"""Purging the Redis queue's dead letters (``memoryd dlq purge``): each letter is deleted, and its
event's status record, while it still points at that letter, says so (:data:`scripts.PURGE`): it
stays ``dead_lettered`` (its add was never stored), with no ``dlq_id`` (the entry is gone) and the
error ``dlq_purged``, and an add again under its event id is accepted as a new event (a client's
retry would otherwise be a NOOP "duplicate event" of an add nobody can replay any more).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from memoryd.pipeline.events import readable_event_id
from memoryd.pipeline.keys import Keys

__all__ = ["PURGED", "purge_letters"]

PAGE = 500  # letters read and deleted per round trip
PURGED = (
    "its dead letter was purged (memoryd dlq purge): its add was never stored, and cannot be replayed; "
    "an add again under this event_id is accepted as a new event"
)


async def purge_letters(
    client: Any, script: Any, keys: Keys, *, ids: list[str] | None = None, up_to: str | None = None
) -> int:
    """Delete the dead letters of ``ids``, or every one up to entry id ``up_to`` (those that arrive
    later stay), or all (``script``: :data:`scripts.PURGE`, registered); how many went."""
    if ids:
        entries: list[Any] = []
        for entry_id in dict.fromkeys(ids):
            entries += await client.xrange(keys.dlq, entry_id, entry_id)
        return await _purge(script, keys, entries)
    purged, start = 0, "-"
    while entries := await client.xrange(keys.dlq, start, up_to or "+", count=PAGE):
        purged += await _purge(script, keys, entries)
        start = f"({entries[-1][0]}"  # after the last one read
    return purged


async def _purge(script: Any, keys: Keys, entries: list[Any]) -> int:
    if not entries:
        return 0
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    statuses = []
    for _, fields in entries:
        event_id = readable_event_id(fields)
        statuses.append(keys.status(event_id) if event_id else keys.dlq)
    return int(await script(keys=[keys.dlq, *statuses], args=[now, PURGED, *(str(i) for i, _ in entries)]))
