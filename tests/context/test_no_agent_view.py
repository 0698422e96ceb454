"""A context naming a user and no agent reads every memory of the user, as search does: the shared
ones (no agent) and every agent's own. Where two are current at once it shows one: per profile
attribute a person has one of (name, home, workplace) the shared one if one is current, else the
latest said of the agents'; per thing liked and disliked, the stance chosen the same way. An
agent's own view is unchanged: its own memories and the shared ones (real SQLite, real embedder)."""

from __future__ import annotations

from memoryd import AsyncMemory
from memoryd.context import Context


def _section(built: Context, section: str) -> list[str]:
    return [i.text for i in built.items if i.section == section]


async def test_a_context_naming_no_agent_shows_the_users_one_shared_home(rmem: AsyncMemory) -> None:
    # the agent is told first; the shared home, told late, is dated before it: both stay current
    await rmem.add("I live in Bergen.", user_id="ana", agent_id="bot", timestamp="2024-06-01T10:00:00Z")
    await rmem.add("I live in Oslo.", user_id="ana", timestamp="2024-05-01T10:00:00Z")
    await rmem.add("I love skiing.", user_id="ana", agent_id="bot")
    built = await rmem.context("where do I live? what do I love?", user_id="ana")
    assert _section(built, "Profile") == ["The user lives in Oslo."]
    assert "The user lives in Bergen." not in built.text
    assert "The user loves skiing." in _section(built, "Preferences")  # told to the agent: the user's
    # the agent's own view is unchanged: its own memories beside the shared ones
    bot = await rmem.context("where do I live? what do I love?", user_id="ana", agent_id="bot")
    assert "The user lives in Bergen." in bot.text and "The user loves skiing." in bot.text


async def test_a_context_naming_no_agent_reads_what_one_agent_was_told(rmem: AsyncMemory) -> None:
    # an app with a single agent that reads its context naming no agent
    said = "My name is Ana. I live in Lisbon. I like green tea. Please keep your answers concise."
    await rmem.add(said, user_id="u", agent_id="bot")
    built = await rmem.context("what should I drink?", user_id="u")
    assert _section(built, "Profile") == ["The user's name is Ana.", "The user lives in Lisbon."]
    prefs = _section(built, "Preferences")
    assert "The user likes green tea." in prefs
    assert "The assistant should keep its answers concise." in prefs
    bot = await rmem.context("what should I drink?", user_id="u", agent_id="bot")
    assert [(i.section, i.text) for i in built.items] == [(i.section, i.text) for i in bot.items]


async def test_a_context_naming_no_agent_shows_the_latest_said_of_agents_homes_and_tastes(
    rmem: AsyncMemory,
) -> None:
    await rmem.add(
        "I live in Trondheim. I dislike coffee.", user_id="u", agent_id="b2", timestamp="2024-07-01T10:00:00Z"
    )
    await rmem.add(
        "I live in Bergen. I like coffee.", user_id="u", agent_id="b1", timestamp="2024-06-01T10:00:00Z"
    )
    await rmem.add(
        "I work at Acme. I like green tea.", user_id="u", agent_id="b1", timestamp="2024-06-01T10:00:00Z"
    )
    built = await rmem.context("where do I live and work? coffee? tea?", user_id="u")
    assert _section(built, "Profile") == ["The user lives in Trondheim.", "The user works at Acme."]
    prefs = _section(built, "Preferences")
    assert "The user dislikes coffee." in prefs and "The user likes coffee." not in prefs
    assert "The user likes green tea." in prefs  # no other stance on it: kept
    b1 = await rmem.context("where do I live and work? coffee? tea?", user_id="u", agent_id="b1")
    assert _section(b1, "Profile") == ["The user lives in Bergen.", "The user works at Acme."]
    assert "The user likes coffee." in _section(b1, "Preferences")


async def test_a_context_naming_no_agent_keeps_every_agents_turns(rmem: AsyncMemory) -> None:
    await rmem.add("My name is Ana.", user_id="ana")
    await rmem.add(["I live in Bergen.", "Book the ferry to Flåm for Friday."], user_id="ana",
                   agent_id="bot", run_id="r1")  # fmt: skip
    built = await rmem.context("the ferry", user_id="ana", run_id="r1")
    recent = [i.text for i in built.items if i.section == "Recent conversation"]
    assert recent == ["user: I live in Bergen.", "user: Book the ferry to Flåm for Friday."]
    assert _section(built, "Profile") == ["The user's name is Ana.", "The user lives in Bergen."]
    past = await rmem.context("the ferry to Flåm", user_id="ana")  # a past turn: relevant
    assert any("Book the ferry" in i.text for i in past.items if i.section == "Relevant memories")
