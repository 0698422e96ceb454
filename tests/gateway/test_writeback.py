"""Write-back under overload: back-pressure on new calls, never a dropped turn."""

from __future__ import annotations

import asyncio

import pytest

from memoryd import AsyncMemory
from memoryd.gateway import writeback
from memoryd.gateway.writeback import Turn, WriteBack


async def test_a_full_backlog_makes_new_calls_wait_and_loses_nothing(
    amem: AsyncMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writeback, "MAX_PENDING", 2)
    wb = WriteBack(amem.settings.limits)
    turns = [Turn("ana", "s1", f"question {i}: do you like tea?", f"answer {i}", "m") for i in range(5)]
    for turn in turns:
        await wb.room()  # what the gateway does before each call that will write back
        assert wb.in_flight < 2
        wb.schedule(amem, None, turn)
    assert wb.counts["waited"] >= 1
    await wb.drain()
    page = await amem.get_all(user_id="ana", filters={"kind": "episode"}, limit=50)
    assert sorted(m.text for m in page.items if m.role == "user") == sorted(t.question for t in turns)
    assert wb.counts["stored"] == 5 and wb.counts["failed"] == 0


async def test_room_is_immediate_below_the_cap(amem: AsyncMemory) -> None:
    wb = WriteBack(amem.settings.limits)
    await asyncio.wait_for(wb.room(), 1)
    assert wb.counts["waited"] == 0


async def test_turns_waiting_in_a_conversation_are_stored_together_in_order(amem: AsyncMemory) -> None:
    wb = WriteBack(amem.settings.limits, concurrency=1)
    ana = [Turn("ana", "s1", f"question number {i}", f"answer number {i}", "m") for i in range(10)]
    bo = Turn("bo", None, "what is my name?", "You are Bo.", "m")
    for turn in [*ana[:5], bo, *ana[5:]]:
        wb.schedule(amem, None, turn)
    assert wb.in_flight == 11
    await wb.drain()
    assert wb.counts["stored"] == 11 and wb.counts["failed"] == 0
    assert wb.counts["batches"] == 2  # everything waiting in a conversation, in one add each
    page = await amem.get_all(user_id="ana", run_id="s1", filters={"kind": "episode"}, limit=50)
    stored = [m.text for m in reversed(page.items)]  # newest first: turned back into the order said
    assert stored == [text for t in ana for text in (t.question, t.answer)]
    assert [m.text for m in (await amem.get_all(user_id="bo")).items if m.kind.value == "episode"] == [
        "You are Bo.",
        "what is my name?",
    ]
