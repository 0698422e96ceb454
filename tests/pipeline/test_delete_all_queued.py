"""``delete_all`` with the async pipeline on: an add of the scope still queued when it ran (more than
a second before it) stores nothing when a worker takes it; one queued after it, or of another
scope, is stored.

An add queued for ana, then ``delete_all(user_id="ana")``, then a worker: ana's memories came back,
though the caller deleted them after the add was acknowledged. The store now marks the deleted
scope first, and refuses an event of a scope it holds that was made before the mark, as it does
for a user deleted with ``delete_user``.
"""

from __future__ import annotations

import asyncio

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline import AddPayload, EventStatus
from memoryd.storage.sqlite.applied import SCOPE_MARGIN_S
from tests.pipeline.helpers import burst, producer


def _add(text: str, **scope: str) -> AddPayload:
    return AddPayload([{"role": "user", "content": text}], **scope)


async def test_an_add_queued_before_a_delete_all_of_its_scope_stores_nothing(
    psettings: Settings, embedder: USEEmbedder
) -> None:
    async with producer(psettings, embedder) as (pipeline, memory):
        await pipeline.submit_add(memory, _add("ana's note before", user_id="ana"), event_id="before")
        await pipeline.submit_add(memory, _add("ana's session note", user_id="ana", run_id="s1"), event_id="run")
        await pipeline.submit_add(memory, _add("bo's note", user_id="bo"), event_id="other")
        await pipeline.submit_add(memory, _add("ana in s2", user_id="ana", run_id="s2"), event_id="s2")
        await asyncio.sleep(SCOPE_MARGIN_S + 0.2)  # the deletions come later, by more than the margin
        assert await memory.delete_all(run_id="s2") == 0  # nothing stored yet: only the mark
        assert await memory.delete_all(user_id="ana") == 0
        await pipeline.submit_add(memory, _add("ana's note after", user_id="ana"), event_id="after")

        report = await burst(psettings, embedder)
        assert report.processed == 5
        for event_id in ("before", "run", "s2"):
            record = await pipeline.event(event_id, user_id="ana")
            assert record.status is EventStatus.DONE and record.result is not None, record
            assert record.result["results"] == [] and "deleted" in record.result["skipped"], record
        assert [m.text for m in (await memory.get_all(user_id="ana")).items] == ["ana's note after"]
        assert [m.text for m in (await memory.get_all(user_id="bo")).items] == ["bo's note"]


async def test_a_delete_all_of_another_scope_leaves_a_queued_add_to_be_stored(
    psettings: Settings, embedder: USEEmbedder
) -> None:
    async with producer(psettings, embedder) as (pipeline, memory):
        await pipeline.submit_add(memory, _add("ana in s1", user_id="ana", run_id="s1"), event_id="s1")
        await pipeline.submit_add(memory, _add("ana to the bot", user_id="ana"), event_id="plain")
        await memory.delete_all(user_id="ana", run_id="s2")  # another session
        await memory.delete_all(user_id="ana", agent_id="bot")  # an agent neither add names
        await memory.delete_all(user_id="bo")
        assert (await burst(psettings, embedder)).processed == 2
        texts = sorted(m.text for m in (await memory.get_all(user_id="ana")).items)
        assert texts == ["ana in s1", "ana to the bot"]
