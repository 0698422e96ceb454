"""Memories with small tiers on real SQLite files and the real embedder, and a clock tests move."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory, Settings, load_settings
from memoryd.embedders.use import USEEmbedder

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

# Four topics, each a short exchange; consecutive turns of one topic form one segment.
TOPICS: dict[str, list[tuple[str, str]]] = {
    "hiking": [
        ("user", "I love hiking in the mountains."),
        ("assistant", "Hiking sounds great. Any favourite trail?"),
        ("user", "The trails in Sintra are my favourite."),
        ("assistant", "Sintra has lovely forest paths."),
    ],
    "cat": [
        ("user", "We adopted a cat called Miso in March."),
        ("assistant", "Miso is a lovely name for a cat."),
        ("user", "Miso likes to sleep on my keyboard."),
        ("assistant", "Cats love warm keyboards."),
    ],
    "work": [
        ("user", "I work at Globex as a data engineer."),
        ("assistant", "What do you work on there?"),
        ("user", "I build data pipelines in Python."),
        ("assistant", "Python is great for data engineering."),
    ],
    "cooking": [
        ("user", "Tonight I am cooking a mushroom risotto."),
        ("assistant", "Risotto needs patience: add the stock slowly."),
        ("user", "I always stir the risotto with a wooden spoon."),
        ("assistant", "A wooden spoon is perfect for risotto."),
    ],
}


class Clock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def tier_settings(tmp_path: Path, **tiers: Any) -> Settings:
    return load_settings(
        env={},
        overrides={
            "storage": {"path": str(tmp_path / "tiers.db"), "synchronous": "NORMAL"},
            "tiers": {"short_term_turns": 4, "short_term_sessions": 2, **tiers},
        },
    )


def fine_tier_settings(tmp_path: Path, llm_url: str, **tiers: Any) -> Settings:
    """Fine mode against the fake LLM at ``llm_url`` (one attempt, no fast-mode rules), these tiers."""
    return load_settings(
        env={},
        overrides={
            "storage": {"path": str(tmp_path / "fine.db"), "synchronous": "NORMAL"},
            "context": {"fast_rules": False},
            "tiers": tiers,
            "llm": {"provider": "openai", "base_url": llm_url, "api_key": "sk-test", "model": "x",
                    "timeout_s": 2, "max_attempts": 1},
        },
    )  # fmt: skip


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_memory(
    tmp_path: Path, embedder: USEEmbedder, clock: Clock
) -> Callable[..., AsyncIterator[AsyncMemory]]:
    """``async with make_memory(**tiers) as mem``: an opened memory with these ``[tiers]`` settings."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def make(settings: Settings | None = None, **tiers: Any) -> AsyncIterator[AsyncMemory]:
        mem = AsyncMemory(settings or tier_settings(tmp_path, **tiers), embedder=embedder, clock=clock)
        await mem.open()
        try:
            yield mem
        finally:
            await mem.close()

    return make  # type: ignore[return-value]


async def chat(
    mem: AsyncMemory, turns: list[tuple[str, str]], *, user_id: str = "ana", run_id: str
) -> list[str]:
    """Add turns one at a time, as a chat would; the ids of the episodes."""
    ids = []
    for role, text in turns:
        out = await mem.add({"role": role, "content": text}, user_id=user_id, run_id=run_id)
        ids.append(str(out[0].id))
    return ids


def stored_retrievals(db: Path, user_id: str | None = None) -> int:
    """The retrievals written to the segments (of ``user_id``'s, if given), as another connection
    reads the file."""
    conn = sqlite3.connect(db)
    try:
        if user_id is None:
            row = conn.execute("SELECT coalesce(sum(retrievals), 0) FROM segments")
        else:
            row = conn.execute("SELECT coalesce(sum(retrievals), 0) FROM segments WHERE user_id = ?", (user_id,))
        return int(row.fetchone()[0])
    finally:
        conn.close()
