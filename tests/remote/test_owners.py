"""The remote client's owner and store calls (users, tree, delete_user, reset, health) answer as the
embedded API does on the same store, and refuse what it refuses, with the same field."""

from __future__ import annotations

import pytest

from memoryd import (
    AsyncMemory,
    AsyncMemoryClient,
    InvalidInputError,
    Memory,
    MemoryClient,
    NotFoundError,
    Settings,
)
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import Running


async def test_users_and_trees_are_the_embedded_ones(
    served: Running, remote: AsyncMemoryClient, embedder: USEEmbedder
) -> None:
    await remote.add(["I live in Porto", "I love sushi"], user_id="ana", run_id="s1")
    await remote.add("I prefer window seats", user_id="ana", agent_id="planner")
    await remote.add("Deploys go out on Fridays", agent_id="ci-bot")
    await remote.add("I like tea", user_id="bob")
    async with AsyncMemory(served.memory.settings, embedder=embedder) as local:
        assert await remote.users() == await local.users()
        assert await remote.users(user_id="ana") == await local.users(user_id="ana")
        for user, agent in (("ana", None), ("ana", "planner"), (None, "ci-bot")):
            theirs = await remote.tree(user, agent_id=agent, episodes=3)
            mine = await local.tree(user, agent_id=agent, episodes=3)
            assert theirs.pop("generated_at") <= mine.pop("generated_at")  # when each was read
            assert theirs == mine
    with pytest.raises(NotFoundError) as nobody:
        await remote.tree("zed")
    assert nobody.value.field == "user_id"
    with pytest.raises(InvalidInputError) as no_owner:
        await remote.tree()
    assert no_owner.value.field == "user_id"


async def test_delete_user_reset_and_health(served: Running, remote: AsyncMemoryClient) -> None:
    await remote.add(["I live in Porto", "I love sushi"], user_id="ana")
    await remote.add("I like tea", user_id="bob")
    assert (await remote.health())["status"] == "ok"
    assert await remote.delete_user("ana") >= 2
    assert (await remote.get_all(user_id="ana")).total == 0
    assert (await remote.get_all(user_id="bob")).total == 2  # the turn and the preference read in it
    assert await remote.delete_user("..") == 0  # a user so named: not a path step up to /v1
    assert (await remote.get_all(user_id="bob")).total == 2
    with pytest.raises(NotFoundError) as nobody:
        await remote.tree(".")
    assert nobody.value.field == "user_id"
    with pytest.raises(InvalidInputError) as blank:
        await remote.delete_user(" ")
    assert blank.value.field == "user_id"
    await remote.reset()
    assert await remote.users() == []
    with MemoryClient(served.url) as mem:  # the synchronous client has them too
        mem.add("I like coffee", user_id="cy")
        assert [row["user_id"] for row in mem.users()] == ["cy"]
        assert mem.health()["status"] == "ok"


def test_the_sync_wrappers_refuse_calls_once_closed(served: Running, settings: Settings, embedder: USEEmbedder) -> None:
    client = MemoryClient(served.url)
    client.close()
    client.close()  # twice is fine
    with pytest.raises(RuntimeError, match="this MemoryClient is closed"):
        client.users()
    mem = Memory(settings, embedder=embedder)
    mem.close()
    with pytest.raises(RuntimeError, match="this Memory is closed"):
        mem.get_all(user_id="ana")


async def test_the_tree_caps_reach_the_server(
    served: Running, remote: AsyncMemoryClient, embedder: USEEmbedder
) -> None:
    """``tree(long_term=..., segments=...)`` through the client cut what the embedded call cuts
    (the client sent only ``episodes``: every remote tree had the server's default caps)."""
    await remote.add([f"I like the colour number {i}." for i in range(6)], user_id="ana", run_id="s1")
    async with AsyncMemory(served.memory.settings, embedder=embedder) as local:
        theirs = await remote.tree("ana", long_term=2, segments=0)
        mine = await local.tree("ana", long_term=2, segments=0)
    theirs.pop("generated_at"), mine.pop("generated_at")
    assert theirs == mine
    assert len(theirs["long_term"]["preference"]) == 2 and theirs["omitted"]
    with pytest.raises(InvalidInputError) as bad:
        await remote.tree("ana", long_term=-1)
    assert bad.value.field == "long_term"
