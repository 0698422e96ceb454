"""A search's hits belong to the caller: changing one never changes what later reads return."""

from __future__ import annotations

from memoryd import AsyncMemory


async def test_changing_a_hits_metadata_leaves_the_stored_memory_alone(amem: AsyncMemory) -> None:
    await amem.add("I keep my bike in the garage", user_id="u", metadata={"tags": ["home"], "n": {"a": 1}})
    for query in ("where is my bike?", "what did I say last week about my bike?"):  # plain, and date re-ranked
        hit = (await amem.search(query, user_id="u", limit=1))[0]
        hit.memory.metadata["tags"].append("changed by the caller")
        hit.memory.metadata["n"]["a"] = 2
        again = (await amem.search(query, user_id="u", limit=1))[0]
        assert again.memory.metadata == {"tags": ["home"], "n": {"a": 1}}
        assert (await amem.get(hit.memory.id)).metadata == {"tags": ["home"], "n": {"a": 1}}
