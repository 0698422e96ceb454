"""One home at a time in what an agent of a user reads: the user's shared memories and its own.

A write naming an agent laid its new home beside the user's shared (agentless) one and never
ended it: the agent's context listed both ("Alice lives in Berlin", "Alice lives in Paris"),
in fine mode when the model answered ADD, and in fast mode always. Now a home said after a
shared one is stored shared (the other agents see the move too), a shared home ends each
agent's own said before it, and one agent's own home never ends another agent's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.models import Event
from tests.fakes.llm_server import Script
from tests.fine.test_fine_mode import decisions, facts, of_kind

ALICE = {"user_id": "alice"}


@pytest.fixture
async def fast(tmp_path: Path, embedder: USEEmbedder) -> AsyncIterator[AsyncMemory]:
    settings = load_settings(
        env={}, overrides={"storage": {"path": str(tmp_path / "fast.db")}, "context": {"fast_rules": True}}
    )
    mem = await AsyncMemory(settings, embedder=embedder).open()
    try:
        yield mem
    finally:
        await mem.close()


def home(city: str) -> dict[str, Any]:
    return facts(f"Alice lives in {city}", kind="profile", attribute="location")


async def said(fine: AsyncMemory, fake_llm: Script, city: str, when: str, **scope: Any) -> Any:
    """Alice says she lives in ``city``; the model adds it (ADD) whatever is known."""
    fake_llm.reply_json(home(city))
    fake_llm.reply_json(decisions({"fact": 0, "event": "ADD", "target": None}))
    out = await fine.add(f"I live in {city} now", **ALICE, **scope, timestamp=when)
    [profile] = of_kind(out, "profile")
    return profile


async def profile(mem: AsyncMemory, agent_id: str | None = None) -> list[str]:
    """The profile section of the context the user (with ``agent_id``) reads."""
    ctx = await mem.context("where do I live?", **ALICE, agent_id=agent_id)
    return sorted(i.text for i in ctx.items if i.section == "Profile")


async def test_fine_a_home_told_to_an_agent_ends_the_users_shared_home_whatever_the_model_says(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    fake_llm.reply_json(home("Paris"))
    [paris] = of_kind(await fine.add("I live in Paris", **ALICE, timestamp="2024-01-01T00:00:00Z"), "profile")
    berlin = await said(fine, fake_llm, "Berlin", "2024-06-01T00:00:00Z", agent_id="travelbot")
    assert (berlin.event, berlin.previous) == (Event.SUPERSEDE, "Alice lives in Paris")
    assert berlin.reason == f"supersedes memory {paris.id}"  # it read "None; supersedes memory …"
    assert await profile(fine, "travelbot") == ["Alice lives in Berlin"]
    # stored shared: the other agents and the user read the move too, not the home it ended
    assert (await fine.get(berlin.id)).agent_id is None
    assert await profile(fine) == await profile(fine, "healthbot") == ["Alice lives in Berlin"]
    old = await fine.get(paris.id)
    assert old.valid_to is not None and (await fine.history(paris.id))[-1].event is Event.SUPERSEDE


async def test_fine_a_shared_home_ends_an_agents_own_home_said_before_it(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    rome = await said(fine, fake_llm, "Rome", "2024-01-01T00:00:00Z", agent_id="travelbot")
    assert rome.event is Event.ADD and (await fine.get(rome.id)).agent_id == "travelbot"
    await said(fine, fake_llm, "Paris", "2024-06-01T00:00:00Z")
    assert await profile(fine, "travelbot") == ["Alice lives in Paris"]
    ended = await fine.get(rome.id)  # kept for its time
    assert ended.valid_to is not None and ended.valid_to.date().isoformat() == "2024-06-01"


async def test_fine_one_agents_home_never_ends_another_agents_own(fine: AsyncMemory, fake_llm: Script) -> None:
    rome = await said(fine, fake_llm, "Rome", "2024-01-01T00:00:00Z", agent_id="travelbot")
    oslo = await said(fine, fake_llm, "Oslo", "2024-06-01T00:00:00Z", agent_id="healthbot")
    assert oslo.event is Event.ADD and (await fine.get(oslo.id)).agent_id == "healthbot"
    assert (await fine.get(rome.id)).valid_to is None
    assert await profile(fine, "travelbot") == ["Alice lives in Rome"]
    assert await profile(fine, "healthbot") == ["Alice lives in Oslo"]


async def test_fast_a_home_told_to_an_agent_ends_the_users_shared_home(fast: AsyncMemory) -> None:
    await fast.add("I live in Paris", **ALICE, timestamp="2024-01-01T00:00:00Z")
    out = await fast.add("I live in Berlin", **ALICE, agent_id="travelbot", timestamp="2024-06-01T00:00:00Z")
    [berlin] = of_kind(out, "profile")
    assert (berlin.event, berlin.previous) == (Event.SUPERSEDE, "The user lives in Paris.")
    assert await profile(fast, "travelbot") == ["The user lives in Berlin."]
    assert await profile(fast) == ["The user lives in Berlin."]
    # what the rules read in the agent's turn alone still goes with it, the home before current again
    [turn] = of_kind(out, "episode")
    await fast.delete(turn.id, **ALICE, agent_id="travelbot")
    assert await profile(fast, "travelbot") == await profile(fast) == ["The user lives in Paris."]


async def test_fast_a_shared_home_ends_an_agents_own_but_not_the_other_way(fast: AsyncMemory) -> None:
    await fast.add("I live in Rome", **ALICE, agent_id="travelbot", timestamp="2024-01-01T00:00:00Z")
    await fast.add("I live in Oslo", **ALICE, agent_id="healthbot", timestamp="2024-03-01T00:00:00Z")
    assert await profile(fast, "travelbot") == ["The user lives in Rome."]  # another agent's: untouched
    await fast.add("I live in Paris", **ALICE, timestamp="2024-06-01T00:00:00Z")
    for agent in ("travelbot", "healthbot", None):
        assert await profile(fast, agent) == ["The user lives in Paris."]


async def test_fine_the_relation_of_a_home_stored_shared_is_shared_too(fine: AsyncMemory, fake_llm: Script) -> None:
    """Its relation stayed the agent's: the other agents' graph had Alice living nowhere."""
    from memoryd.models import Scope

    def lives_in(city: str) -> dict[str, Any]:
        return {**home(city), "relations": [{"source": "Alice", "relation": "lives_in", "target": city, "fact": 0}]}

    fake_llm.reply_json(lives_in("Paris"))
    await fine.add("I live in Paris", **ALICE, timestamp="2024-01-01T00:00:00Z")
    fake_llm.reply_json(lives_in("Berlin"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "ADD", "target": None}))
    await fine.add("I live in Berlin now", **ALICE, agent_id="travelbot", timestamp="2024-06-01T00:00:00Z")
    [current] = await fine.storage.graph.relations(Scope("alice"))
    assert (current.target.name, current.source.agent_id) == ("Berlin", None)


async def _current_homes(mem: AsyncMemory, agent_id: str | None) -> list[str]:
    """Every current home memory the user's ``agent_id`` (None: no agent) reads, copies included."""
    page = await mem.get_all(**ALICE, filters={"kind": "profile"}, limit=100)
    return sorted(m.text for m in page.items if m.agent_id in (None, agent_id))


async def test_fast_an_agent_told_the_shared_home_again_adds_no_second_copy(fast: AsyncMemory) -> None:
    await fast.add("I live in Paris", **ALICE, timestamp="2024-01-01T00:00:00Z")
    out = await fast.add("I live in Paris", **ALICE, agent_id="travelbot", timestamp="2024-06-01T00:00:00Z")
    [paris] = of_kind(out, "profile")
    assert paris.event is Event.NOOP  # it was an ADD under the agent: two current homes in its view
    assert await _current_homes(fast, "travelbot") == ["The user lives in Paris."]
    [shared] = (await fast.get_all(**ALICE, filters={"kind": "profile"})).items
    [turn] = of_kind(out, "episode")
    assert shared.agent_id is None and turn.id in shared.source_ids  # the new turn says it too


async def test_fast_a_shared_home_ends_an_agents_own_copy_of_it(fast: AsyncMemory) -> None:
    await fast.add("I live in Paris", **ALICE, agent_id="travelbot", timestamp="2024-01-01T00:00:00Z")
    await fast.add("I live in Paris", **ALICE, timestamp="2024-06-01T00:00:00Z")
    for agent in ("travelbot", None):
        assert await _current_homes(fast, agent) == ["The user lives in Paris."]
