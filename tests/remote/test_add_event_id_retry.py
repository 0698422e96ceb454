"""A server with the pipeline off applies an add once under its ``event_id``: the remote client's
add sent again under the same id stores nothing again (a NOOP naming the event, as the pipeline's
synchronous path answers it), and another add under the id is refused."""

from __future__ import annotations

import pytest

from memoryd import AsyncMemoryClient
from memoryd.errors import ConflictError
from memoryd.remote import Submitted


async def test_an_add_sent_again_under_its_event_id_is_stored_once(remote: AsyncMemoryClient) -> None:
    first = await remote.add("I live in Paris.", user_id="ana", event_id="ev-1")
    assert isinstance(first, Submitted) and first[0].event.value == "ADD"
    await remote.add("I live in London.", user_id="ana")
    before = await remote.get_all(user_id="ana")
    again = await remote.add("I live in Paris.", user_id="ana", event_id="ev-1")
    assert isinstance(again, Submitted) and list(again) == []
    assert (again.event_id, again.status, again.pipeline) == ("ev-1", "done", "bypassed")
    with pytest.raises(ConflictError) as refused:
        await remote.add("I live in Rome.", user_id="ana", event_id="ev-1")
    assert refused.value.field == "event_id"
    assert await remote.get_all(user_id="ana") == before
