"""``memoryd check`` says how many memories it found damaged in words that agree with the count:
"1 memory has unreadable metadata", never "1 memories have"."""

from __future__ import annotations

import sqlite3

import pytest

from memoryd import AsyncMemory, Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.maintenance import check_store

ONE = "UPDATE memories SET {} WHERE rowid = (SELECT min(rowid) FROM memories)"
ALL = "UPDATE memories SET {}"


async def _damaged(settings: Settings, embedder: USEEmbedder, texts: list[str], damage: str) -> list[str]:
    async with AsyncMemory(settings, embedder=embedder) as mem:
        for text in texts:
            await mem.add(text, user_id="ana")
    with sqlite3.connect(settings.storage.path) as conn:
        conn.execute(damage)
    conn.close()
    report = await check_store(settings, embedder=embedder)
    return [str(p) for p in report.problems]


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (ONE.format("metadata = '{oops'"), "1 memory has unreadable metadata or source ids"),
        (ONE.format("kind = 'dream'"), "1 memory has a kind or time this memoryd cannot read"),
        (ALL.format("kind = 'dream'"), "2 memories have a kind or time this memoryd cannot read"),
    ],
    ids=["one-metadata", "one-kind", "two-kinds"],
)
async def test_damaged_memories_are_counted_in_words_that_agree(
    settings: Settings, embedder: USEEmbedder, damage: str, says: str
) -> None:
    # one add of a taste stores two memories: the turn and the preference the rules read in it
    problems = await _damaged(settings, embedder, ["I like green tea"], damage)
    said = " | ".join(problems)
    assert says in said, said
    assert "1 memories" not in said
