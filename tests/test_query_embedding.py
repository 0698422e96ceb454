"""Where a query is embedded: on the event loop only when that is a millisecond or two's work.

A search's query (the chat gateway's memory lookup: the user's last message, up to
``limits.max_query_chars``) was embedded on the calling thread whenever it was one text, however
long: a message pasted whole held the event loop for 30-100 ms, with no other call served and no
timeout (the gateway's ``memory_timeout_s``) able to fire meanwhile.

A model's cost is about per token, so "short" is counted in bytes of UTF-8, not characters: a
Chinese character is about a token, where English takes some four characters to one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from memoryd import AsyncMemory
from memoryd.embedders.runner import EmbeddingRunner
from memoryd.embedders.use import USEEmbedder

LONG = " ".join(f"On day {i} we walked along the river and ate pears in the old town." for i in range(55))
SHORT_ZH = "我去年夏天和妹妹去哪里远足了？"
# 106 characters (under 200), 318 bytes of UTF-8: some 90 tokens, twice an English query of 200
LONG_ZH = (
    "我去年夏天和妹妹还有她的两只狗去哪里远足了？回来的路上我们走的是哪条小路，一直走到湖边？"
    "我记得天气很糟糕，我们在老磨坊附近迷路了，后来一个农民给我们指了路，我们才回到停车场，那天晚上"
    "我们在镇上吃了一顿很好的晚饭。"
)


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


async def test_a_chinese_query_is_short_by_its_bytes_not_its_characters(embedder: USEEmbedder) -> None:
    runner = EmbeddingRunner(lambda: embedder)
    try:
        short = runner.soon([SHORT_ZH], urgent=True)
        assert short.done()
        long = runner.soon([LONG_ZH], urgent=True)
        assert not long.done()  # 106 characters: as long to embed as some 400 English ones
        vectors = await long
    finally:
        runner.close()
    assert len(LONG_ZH) < 200 < len(LONG_ZH.encode())
    assert np.allclose(vectors, embedder.embed([LONG_ZH]), atol=1e-5)


class _Declared:
    """A model of one's own that says how many texts it embeds cheaply, and not how long."""

    inline_texts = 4

    def __init__(self, model: USEEmbedder) -> None:
        self.name, self.dim, self._model = model.name, model.dim, model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.embed(texts)


async def test_a_model_that_declares_no_length_embeds_a_short_query_on_the_spot(
    embedder: USEEmbedder,
) -> None:
    runner = EmbeddingRunner(lambda: _Declared(embedder))
    try:
        short = runner.soon(["where did I go hiking last summer?"], urgent=True)
        assert short.done()  # inline_texts is not ignored for want of a length
        long = runner.soon([LONG], urgent=True)
        assert not long.done()
        await long
    finally:
        runner.close()


async def test_a_long_query_still_finds_its_memories(amem: AsyncMemory) -> None:
    await amem.add(LONG, user_id="u")
    await amem.add("I bought a red bicycle", user_id="u")
    found = await amem.search(LONG, user_id="u")
    assert found[0].memory.text == LONG
