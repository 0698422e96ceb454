"""A memory with fast-mode rules on, filled with one user's sessions (real SQLite, real embedder)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from memoryd import AsyncMemory, Settings, load_settings
from memoryd.embedders.use import USEEmbedder

OLD_SESSION = [
    ("user", "My name is Ana Lima."),
    ("user", "I live in Lisbon."),
    ("user", "I love hiking in the mountains."),
    ("assistant", "Hiking sounds great. Any favourite trail?"),
    ("user", "My sister Carla lives in Porto and works as a dentist."),
    ("user", "I hate crowded beaches."),
    ("user", "Last summer we climbed Pico, the highest mountain in Portugal."),
    ("user", "I work at Globex as a data engineer."),
    ("user", "We adopted a cat called Miso in March."),
    ("assistant", "Miso is a lovely name for a cat."),
]
SESSION = [
    ("user", "Can you help me plan a weekend trip?"),
    ("assistant", "Sure. Where would you like to go?"),
    ("user", "Somewhere in the north, near my sister."),
    ("assistant", "Porto is a good base for that."),
]


@pytest.fixture
def rule_settings(tmp_path: Path) -> Settings:
    return load_settings(
        env={},
        overrides={
            "storage": {"path": str(tmp_path / "memoryd.db"), "synchronous": "NORMAL"},
            "context": {"fast_rules": True},
        },
    )


@pytest.fixture
async def rmem(rule_settings: Settings, embedder: USEEmbedder) -> AsyncIterator[AsyncMemory]:
    mem = await AsyncMemory(rule_settings, embedder=embedder).open()
    try:
        yield mem
    finally:
        await mem.close()


@pytest.fixture
async def filled(rmem: AsyncMemory) -> AsyncMemory:
    """Ana's old session (s1), then four turns of the current one (s2), a minute apart."""
    for run_id, turns, day in (("s1", OLD_SESSION, "2024-05-01"), ("s2", SESSION, "2024-06-01")):
        messages = [{"role": role, "content": text} for role, text in turns]
        times = [f"{day}T10:{i:02d}:00Z" for i in range(len(turns))]
        for message, when in zip(messages, times):
            await rmem.add(message, user_id="ana", run_id=run_id, timestamp=when)
    await rmem.add("I like chess.", user_id="bob")
    return rmem
