"""``memoryd check`` says how many memories it found damaged in words that agree with the count:
"1 memory has unreadable metadata", never "1 memories have"."""

from __future__ import annotations

import sqlite3

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


async def test_one_memory_with_unreadable_metadata_is_said_in_the_singular(
    settings: Settings, embedder: USEEmbedder
) -> None:
    problems = await _damaged(settings, embedder, ["I like green tea"], ONE.format("metadata = '{oops'"))
    said = " | ".join(problems)
    assert "1 memory has unreadable metadata or source ids" in said, said
    assert "1 memories" not in said


async def test_one_memory_with_an_unknown_kind_is_said_in_the_singular(
    settings: Settings, embedder: USEEmbedder
) -> None:
    problems = await _damaged(settings, embedder, ["I like green tea"], ONE.format("kind = 'dream'"))
    said = " | ".join(problems)
    assert "1 memory has a kind or time this memoryd cannot read" in said, said
    assert "1 memories" not in said


async def test_more_memories_damaged_are_said_in_the_plural(
    settings: Settings, embedder: USEEmbedder
) -> None:
    problems = await _damaged(settings, embedder, ["I like green tea"], ALL.format("kind = 'dream'"))
    said = " | ".join(problems)
    assert "2 memories have a kind or time this memoryd cannot read" in said, said
