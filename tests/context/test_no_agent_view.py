"""A context naming no agent reads what is known of the user as writes naming no agent are
reconciled with: the user's shared memories. An agent's own home is that agent's, not a second
current home of the user's (real SQLite, real embedder, Memory.context and POST /v1/context)."""

from __future__ import annotations

from memoryd import AsyncMemory


async def test_a_context_naming_no_agent_shows_the_users_one_shared_home(rmem: AsyncMemory) -> None:
    # the agent is told first; the shared home, told late, is dated before it: both stay current
    await rmem.add("I live in Bergen.", user_id="ana", agent_id="bot", timestamp="2024-06-01T10:00:00Z")
    await rmem.add("I live in Oslo.", user_id="ana", timestamp="2024-05-01T10:00:00Z")
    await rmem.add("I love skiing.", user_id="ana", agent_id="bot")
    built = await rmem.context("where do I live?", user_id="ana")
    profile = [i.text for i in built.items if i.section == "Profile"]
    assert profile == ["The user lives in Oslo."]
    assert "The user lives in Bergen." not in built.text and "The user loves skiing." not in built.text
    # the agent's own view is unchanged: its own memories beside the shared ones
    bot = await rmem.context("where do I live? what do I love?", user_id="ana", agent_id="bot")
    assert "The user lives in Bergen." in bot.text and "The user loves skiing." in bot.text


async def test_a_context_naming_no_agent_keeps_every_agents_turns(rmem: AsyncMemory) -> None:
    await rmem.add("My name is Ana.", user_id="ana")
    await rmem.add(["I live in Bergen.", "Book the ferry to Flåm for Friday."], user_id="ana",
                   agent_id="bot", run_id="r1")  # fmt: skip
    built = await rmem.context("the ferry", user_id="ana", run_id="r1")
    recent = [i.text for i in built.items if i.section == "Recent conversation"]
    assert recent == ["user: I live in Bergen.", "user: Book the ferry to Flåm for Friday."]
    assert [i.text for i in built.items if i.section == "Profile"] == ["The user's name is Ana."]
    past = await rmem.context("the ferry to Flåm", user_id="ana")  # a past turn: relevant
    assert any("Book the ferry" in i.text for i in past.items if i.section == "Relevant memories")
