"""The remote client on a server whose async pipeline is on: an add is queued (``Submitted``,
no results), and the same add again, once a worker has done it, carries the add's results (the
client dropped them: they are in the event's record)."""

from __future__ import annotations

from memoryd import AsyncMemoryClient, Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.models import Event
from memoryd.remote import Submitted
from tests.api.conftest import running_server
from tests.pipeline.helpers import burst


async def test_a_done_event_added_again_answers_its_results(psettings: Settings, embedder: USEEmbedder) -> None:
    with running_server(psettings, embedder) as server:
        async with AsyncMemoryClient(server.url) as client:
            queued = await client.add("I live in Porto", user_id="ana", event_id="ev-porto-1")
            assert isinstance(queued, Submitted) and (queued.status, list(queued)) == ("queued", [])
            # printed, it says what happened to it, not a bare []
            assert repr(queued) == "Submitted(event_id='ev-porto-1', status='queued', pipeline='queued', results=[])"
            report = await burst(psettings, embedder)
            assert report.processed == 1
            again = await client.add("I live in Porto", user_id="ana", event_id="ev-porto-1")
            assert isinstance(again, Submitted) and again.status == "done"
            # The event's record keeps no copy of the message (its id finds it), but a derived text.
            assert [(r.event, r.kind, r.text) for r in again] == [
                (Event.ADD, "episode", None),
                (Event.ADD, "profile", "The user lives in Porto."),
            ]
            stored = await client.get(again[0].id or "", user_id="ana")
            assert stored.text == "I live in Porto"
