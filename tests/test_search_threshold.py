"""``threshold`` compares the cosine a hit shows (``explain``'s ``dense_cosine``, mem0's score)."""

from __future__ import annotations

from memoryd import AsyncMemory

_TEXTS = [
    "I adopted a golden retriever named Biscuit",
    "I drink coffee every morning",
    "My sister works at a hospital in Porto",
    "The meeting moved to Tuesday afternoon",
    "I am allergic to peanuts and shellfish",
]


async def test_a_threshold_of_one_keeps_a_query_that_is_the_memory(amem: AsyncMemory) -> None:
    for text in _TEXTS:
        await amem.add(text, user_id="ana")
    for text in _TEXTS:
        # The cosine of a text with itself is 1 (0.99999994 in float32 arithmetic, shown as 1.0).
        hits = await amem.search(text, user_id="ana", threshold=1.0, explain=True)
        assert [h.memory.text for h in hits] == [text]
        assert hits[0].explain is not None and hits[0].explain["dense_cosine"] == 1.0


async def test_a_threshold_equal_to_a_shown_cosine_keeps_that_hit(amem: AsyncMemory) -> None:
    for text in _TEXTS:
        await amem.add(text, user_id="ana")
    every = await amem.search("coffee with my dog", user_id="ana", limit=20, explain=True)
    shown = {h.memory.id: h.explain["dense_cosine"] for h in every if h.explain is not None}
    assert len(shown) == len(every) > 3
    for floor in sorted(set(shown.values())):
        kept = await amem.search("coffee with my dog", user_id="ana", limit=20, threshold=floor)  # type: ignore[arg-type]
        assert [h.memory.id for h in kept] == [h.memory.id for h in every if shown[h.memory.id] >= floor]  # type: ignore[operator]
