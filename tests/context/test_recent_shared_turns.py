"""The recent conversation of a session, for a context naming an agent: that agent's turns and the
session's shared ones (no agent), in the order said, never another agent's. The shared turns were
left out of it (read as the agent's alone) and shown, dated, among the relevant memories."""

from __future__ import annotations

from memoryd import AsyncMemory


async def test_an_agents_recent_conversation_holds_the_sessions_shared_turns(rmem: AsyncMemory) -> None:
    said = [
        ({}, "I need a ferry to Flåm.", "2024-06-01T10:00:00Z"),
        ({"agent_id": "bot"}, "Which day suits you?", "2024-06-01T10:01:00Z"),
        ({"agent_id": "other"}, "The other agent's note on the ferry.", "2024-06-01T10:02:00Z"),
        ({}, "Friday, in the morning.", "2024-06-01T10:03:00Z"),
    ]
    for agent, text, when in said:
        await rmem.add(text, user_id="ana", run_id="r1", timestamp=when, **agent)
    built = await rmem.context("the ferry", user_id="ana", agent_id="bot", run_id="r1")
    recent = [i.text for i in built.items if i.section == "Recent conversation"]
    assert recent == ["user: I need a ferry to Flåm.", "user: Which day suits you?", "user: Friday, in the morning."]
    assert not any("other agent" in i.text for i in built.items)
