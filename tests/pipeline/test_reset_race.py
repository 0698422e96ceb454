"""A reset erases everything acknowledged before it, an add a worker holds as it runs included.

``POST /v1/reset`` (mem0's ``/reset``) marks the reset in Redis and sweeps what is queued, and
workers skip an event enqueued before that mark; but one a worker already held past that check was
stored after the reset (the store kept no mark of it, as it does of a user's deletion): an add
answered 202 before the reset survived it. The store now records the reset's mark first, as a
deletion of every user, and refuses a write applying an event the queue took up to it; an add
queued after the reset is a new one, and is stored.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import httpx
import pytest

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import running_server
from tests.pipeline.helpers import burst, stored, worker_over
from tests.pipeline.test_erasure_mark import Held


@pytest.mark.parametrize("route", ["/v1/reset", "/reset"])
async def test_an_add_a_worker_holds_as_the_store_is_reset_stores_nothing(
    psettings: Settings, embedder: USEEmbedder, route: str
) -> None:
    with running_server(psettings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        for user, text in (("ana", "I live in Porto"), ("bo", "My dog is called Rex")):
            assert c.post("/v1/memories", json={"messages": text, "user_id": user}).status_code == 202
        bots = {"messages": "Porto has six bridges", "agent_id": "guide", "event_id": "bot-1"}  # no user
        assert c.post("/v1/memories", json=bots).status_code == 202
        held = Held(embedder, "Porto")
        reset: dict[str, int] = {}

        def reset_the_store() -> None:  # while the worker embeds the batch, past its checks of the mark
            if held.entered.wait(30):
                reset["status"] = httpx.post(f"{server.url}{route}", timeout=30).status_code
            held.release.set()

        async with worker_over(psettings, held) as worker:
            thread = threading.Thread(target=reset_the_store)
            thread.start()
            report = await asyncio.wait_for(worker.run(burst=True), timeout=60)
            await asyncio.to_thread(thread.join)
        assert reset == {"status": 200}
        assert report.dead_lettered == 0
        assert stored(psettings.storage.path) == Counter()  # nothing acknowledged before the reset
        assert c.get("/v1/events/bot-1").status_code == 404  # nothing of it recorded either

        after = {"messages": "I moved to Oslo", "user_id": "ana", "event_id": "after-1"}
        assert c.post("/v1/memories", json=after).status_code == 202  # queued after the reset: new
        assert (await burst(psettings, embedder)).processed == 1
        assert c.get("/v1/events/after-1").json()["status"] == "done"
    assert ("ana", "I moved to Oslo") in stored(psettings.storage.path)
