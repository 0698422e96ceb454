"""Write-back under overload: back-pressure on new calls, never a dropped turn."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory, load_settings
from memoryd.auth.bound import UserBoundMemory
from memoryd.embedders.use import USEEmbedder
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


async def _episodes(amem: AsyncMemory, user_id: str) -> list[str]:
    page = await amem.get_all(user_id=user_id, filters={"kind": "episode"}, limit=100)
    return [m.text for m in reversed(page.items)]  # newest first: turned back into the order said


async def test_a_conversation_is_one_queue_whatever_view_of_the_store_each_turn_came_through(
    amem: AsyncMemory,
) -> None:
    # The server hands each request a view of its own (a user key's UserBoundMemory, a PipelineView).
    wb = WriteBack(amem.settings.limits)
    turns = [Turn("ana", "s1", f"question number {i}", f"answer number {i}", "m") for i in range(6)]
    wb.schedule(UserBoundMemory(amem, "ana"), None, turns[0])
    await asyncio.sleep(0)  # a writer takes the first turn; the next ones arrive while it is stored
    for turn in turns[1:]:
        wb.schedule(UserBoundMemory(amem, "ana"), None, turn)
    await wb.drain()
    assert (wb.counts["stored"], wb.counts["batches"]) == (6, 2)  # not one writer per request
    assert await _episodes(amem, "ana") == [text for t in turns for text in (t.question, t.answer)]


async def test_the_same_user_in_two_tenants_is_two_conversations(
    amem: AsyncMemory, tmp_path: Path, embedder: USEEmbedder
) -> None:
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "acme.db")}})
    other = await AsyncMemory(settings, embedder=embedder).open()
    try:
        wb = WriteBack(amem.settings.limits)
        wb.schedule(amem, None, Turn("ana", None, "I live in Lisbon", "Noted.", "m"))
        wb.schedule(other, None, Turn("ana", None, "I live in Oslo", "Noted.", "m"), tenant="acme")
        await wb.drain()
        assert await _episodes(amem, "ana") == ["I live in Lisbon", "Noted."]
        assert await _episodes(other, "ana") == ["I live in Oslo", "Noted."]
    finally:
        await other.close()


class _Gated:
    """The real store; each add, once stored, waits for ``gate`` before it returns (so the test says
    when the writers finish: every one in the same turn of the event loop)."""

    def __init__(self, memory: AsyncMemory, gate: asyncio.Future[None]) -> None:
        self.memory = memory
        self.gate = gate
        self.stored = asyncio.Event()

    async def add(self, messages: Any, **kwargs: Any) -> Any:
        result = await self.memory.add(messages, **kwargs)
        self.stored.set()
        await self.gate
        return result


async def test_one_users_sessions_take_one_writer_and_leave_the_others_to_other_users(
    amem: AsyncMemory,
) -> None:
    """Adds of one user take turns in the store: two of its sessions on two writers would leave one
    writer idle behind the other while another user's turn waits."""
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    store = _Gated(amem, gate)
    wb = WriteBack(amem.settings.limits, concurrency=2)
    wb.schedule(store, None, Turn("ana", "s1", "ana's first session", "noted", "m"))
    await store.stored.wait()  # one writer holds ana's s1 batch at the gate
    wb.schedule(store, None, Turn("ana", "s2", "ana's second session", "noted", "m"))
    wb.schedule(store, None, Turn("bo", "s1", "bo's question", "noted", "m"))
    for _ in range(50):  # the second writer takes bo's turn, not ana's second session
        if await _episodes(amem, "bo"):
            break
        await asyncio.sleep(0.02)
    assert await _episodes(amem, "bo") == ["bo's question", "noted"]
    assert "ana's second session" not in await _episodes(amem, "ana")
    gate.set_result(None)
    await wb.drain(timeout_s=10)
    assert wb.in_flight == 0 and wb.counts["stored"] == 3
    ana = sorted(await _episodes(amem, "ana"))
    assert ana == sorted(["ana's first session", "ana's second session", "noted", "noted"])


async def test_a_turn_queued_as_the_last_writer_returns_is_still_written(amem: AsyncMemory) -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    store = _Gated(amem, gate)
    wb = WriteBack(amem.settings.limits, concurrency=1)
    wb.schedule(store, None, Turn("ana", None, "first question", "first answer", "m"))
    await store.stored.wait()  # the one writer has stored its turn and waits at the gate

    async def chat_call_finishing() -> None:
        await gate  # woken in the same turn of the loop as the writer, just after it returns
        wb.schedule(store, None, Turn("bo", None, "late question", "late answer", "m"))

    late = asyncio.create_task(chat_call_finishing())
    await asyncio.sleep(0)  # the late call waits at the gate too, behind the writer
    gate.set_result(None)
    await late
    await wb.drain(timeout_s=5)  # with no writer for the late turn, this gives up after 5 s
    assert wb.in_flight == 0 and wb.counts["stored"] == 2
    assert await _episodes(amem, "bo") == ["late question", "late answer"]


async def test_a_turn_the_store_refuses_drops_only_itself_not_its_batch(amem: AsyncMemory) -> None:
    wb = WriteBack(amem.settings.limits, concurrency=1)
    turns = [Turn("ana", "s1", f"question number {i}", f"answer number {i}", "m") for i in range(6)]
    turns.insert(3, Turn("ana", "s1", "\x00", "an answer to nothing", "m"))  # empty once NUL is stripped
    for turn in turns:
        wb.schedule(amem, None, turn)
    await wb.drain()
    page = await amem.get_all(user_id="ana", run_id="s1", filters={"kind": "episode"}, limit=50)
    said = {m.text for m in page.items if m.role == "user"}
    assert said == {t.question for t in turns if t.question != "\x00"}  # the six others are stored
    assert wb.counts["stored"] == 6 and wb.counts["failed"] == 1
