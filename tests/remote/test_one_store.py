"""On one store, the remote client reads exactly what the embedded API reads: equal objects
(dataclass equality: every field, times as aware datetimes, scores to the last bit), context token
counts included. The embedded side opens the served store's file beside the server, as a second
process would."""

from __future__ import annotations

from memoryd import AsyncMemory, AsyncMemoryClient
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import Running

REF = "2024-09-01T00:00:00Z"


async def test_reads_on_the_served_store_equal_the_embedded_reads(
    served: Running, remote: AsyncMemoryClient, embedder: USEEmbedder
) -> None:
    await remote.add(["I live in Porto now", "I love eating sushi"], user_id="ana", run_id="s1",
                     metadata={"topic": "home"}, timestamp="2024-05-01T10:00:00Z")  # fmt: skip
    await remote.add("I prefer window seats on long flights", user_id="ana", agent_id="planner",
                     metadata={"topic": "travel"})  # fmt: skip
    turn = (await remote.add("My name is Ana", user_id="ana", run_id="s2"))[0].id
    assert turn is not None
    await remote.update(turn, "My name is Ana Lima", metadata={"checked": True})

    async with AsyncMemory(served.memory.settings, embedder=embedder) as local:
        for scope in ({"user_id": "ana"}, {"run_id": "s1"}, {"user_id": "ana", "agent_id": "planner"}):
            assert await remote.get_all(**scope) == await local.get_all(**scope)
            assert await remote.get_all(include_expired=True, **scope) == await local.get_all(
                include_expired=True, **scope
            )
        for query, kw in (
            ("where does ana live?", {}),
            ("travel", {"filters": {"OR": [{"topic": "travel"}, {"kind": "profile"}]}, "explain": True}),
            ("food", {"limit": 1, "threshold": 0.1}),
        ):
            mine = await local.search(query, user_id="ana", reference_time=REF, **kw)
            theirs = await remote.search(query, user_id="ana", reference_time=REF, **kw)
            assert theirs == mine and theirs
        assert await remote.get(turn, user_id="ana") == await local.get(turn, user_id="ana")
        assert await remote.history(turn) == await local.history(turn)
        for budget in (300, 30):
            kw = {"user_id": "ana", "run_id": "s1", "token_budget": budget}
            assert await remote.context("what do I eat?", **kw) == await local.context("what do I eat?", **kw)
