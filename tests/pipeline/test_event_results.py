"""What an event's status record keeps of its add's result for ``result_ttl_s``: what the caller
cannot know (each item's id and event, the text of derived memories), not a copy of its messages."""

from __future__ import annotations

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline import AddPayload, EventQueue, EventStatus
from tests.pipeline.helpers import burst, producer

FILLER = "lorem ipsum dolor sit amet " * 400  # ~10 KB a message


async def test_an_events_status_keeps_no_copy_of_its_messages(
    psettings: Settings, embedder: USEEmbedder, queue: EventQueue
) -> None:
    messages = [{"role": "user", "content": f"{FILLER} number {n}"} for n in range(20)]
    messages.append({"role": "user", "content": "I love hiking"})
    async with producer(psettings, embedder) as (pipeline, memory):
        await pipeline.submit_add(memory, AddPayload(messages, user_id="ana"), event_id="big-1")
        assert (await burst(psettings, embedder)).processed == 1

        raw = await queue.client.hget(queue.keys.status("big-1"), "result")  # type: ignore[attr-defined]
        assert "lorem" not in raw and len(raw) < 6_000  # it was 216 KB: every message again
        record = await pipeline.event("big-1")
        assert record.status is EventStatus.DONE and record.result is not None
        results = record.result["results"]
        episodes = [r for r in results if r["kind"] == "episode"]
        assert [(r["index"], r["event"], r["memory"]) for r in episodes] == [(n, "ADD", None) for n in range(21)]
        assert all(r["id"] and "record" not in r for r in episodes)
        # A memory derived from a message is the caller's to learn: its text stays.
        (derived,) = [r for r in results if r["kind"] != "episode"]
        assert (derived["kind"], derived["memory"], derived["sources"]) == (
            "preference", "The user loves hiking.", [episodes[-1]["id"]]
        )  # fmt: skip
        # The message's text is where GET /v1/memories/{id} reads it.
        assert (await memory.get(episodes[-1]["id"])).text == "I love hiking"
