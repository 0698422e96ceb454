"""Where a query is embedded: on the event loop only when that is a millisecond or two's work.

A search's query (the chat gateway's memory lookup: the user's last message, up to
``limits.max_query_chars``) was embedded on the calling thread whenever it was one text, however
long: a message pasted whole held the event loop for 30-100 ms, with no other call served and no
timeout (the gateway's ``memory_timeout_s``) able to fire meanwhile.
"""

from __future__ import annotations

import numpy as np

from memoryd import AsyncMemory
from memoryd.embedders.runner import EmbeddingRunner
from memoryd.embedders.use import USEEmbedder

LONG = " ".join(f"On day {i} we walked along the river and ate pears in the old town." for i in range(55))


async def test_a_long_query_is_embedded_off_the_event_loop_a_short_one_on_the_spot(
    embedder: USEEmbedder,
) -> None:
    runner = EmbeddingRunner(lambda: embedder)
    try:
        short = runner.soon(["where did I go hiking last summer?"], urgent=True)
        assert short.done()  # on the spot: a thread hop would cost a third as much again
        long = runner.soon([LONG], urgent=True)
        assert not long.done()  # on the urgent thread: the event loop goes on meanwhile
        vectors = await long
    finally:
        runner.close()
    assert len(LONG) > 3_000
    assert np.allclose(vectors, embedder.embed([LONG]), atol=1e-5)


async def test_a_long_query_still_finds_its_memories(amem: AsyncMemory) -> None:
    await amem.add(LONG, user_id="u")
    await amem.add("I bought a red bicycle", user_id="u")
    found = await amem.search(LONG, user_id="u")
    assert found[0].memory.text == LONG
