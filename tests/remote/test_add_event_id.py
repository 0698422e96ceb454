"""The remote client gives every add an ``event_id`` (so that an add sent again after a 503 is the
same event); a server with the pipeline off only echoes it, and the caller who gave none still gets
what the embedded API returns: :class:`AddResults`, not a ``Submitted`` naming an id it never gave."""

from __future__ import annotations

from memoryd import AsyncMemory, AsyncMemoryClient
from memoryd.models import AddResults
from memoryd.remote import Submitted


async def test_an_add_given_no_event_id_answers_as_embedded(
    local: AsyncMemory, remote: AsyncMemoryClient
) -> None:
    mine = await local.add("I live in Porto", user_id="ana")
    theirs = await remote.add("I live in Porto", user_id="ana")
    assert type(theirs) is type(mine) is AddResults
    again = await remote.add("I live in Porto", user_id="ana")  # a NOOP, as the same text again is
    same = await local.add("I live in Porto", user_id="ana")
    assert type(again) is AddResults and [r.event for r in again] == [r.event for r in same] == ["NOOP"]
    given = await remote.add("I live in Lisbon", user_id="ana", event_id="ev-1")
    assert isinstance(given, Submitted) and given.event_id == "ev-1"
