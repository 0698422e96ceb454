"""Forgetting a user while one of their adds is under way: the erasure waits for it, and takes it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder


class Gated:
    """The real embedder, each call waiting for ``gate`` (``waiting`` says one does)."""

    def __init__(self, inner: USEEmbedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.gate, self.waiting = threading.Event(), threading.Event()
        self.gate.set()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.waiting.set()
        self.gate.wait(30)
        return self.inner.embed(texts)


def _tier_rows(path: Path, user: str) -> int:
    with sqlite3.connect(path) as conn:
        turns = conn.execute("SELECT count(*) FROM tier_turns WHERE user_id = ?", (user,)).fetchone()[0]
        segments = conn.execute("SELECT count(*) FROM segments WHERE user_id = ?", (user,)).fetchone()[0]
    return int(turns + segments)


async def test_an_add_under_way_when_a_user_is_deleted_is_erased_with_the_rest(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    path = tmp_path / "m.db"
    settings = load_settings(env={}, overrides={"storage": {"path": str(path), "synchronous": "NORMAL"}})
    gated = Gated(embedder)
    async with AsyncMemory(settings, embedder=gated) as mem:
        await mem.add(["I keep bees.", "My sister lives in Lisbon."], user_id="ana", run_id="s1")
        assert _tier_rows(path, "ana") > 0
        gated.gate.clear()
        gated.waiting.clear()
        late = asyncio.create_task(mem.add(["We sailed to the island."], user_id="ana", run_id="s1"))
        assert await asyncio.to_thread(gated.waiting.wait, 10)  # the add is embedding its turn
        forget = asyncio.create_task(mem.delete_user("ana"))
        await asyncio.sleep(0.5)
        assert not forget.done()  # the erasure waits for the add under way ...
        gated.gate.set()
        added = await late
        assert [r.event.value for r in added] == ["ADD"]
        assert await forget == 3  # ... and takes it with the rest
        assert (await mem.get_all(user_id="ana", include_expired=True)).total == 0
        assert await mem.users() == []
    assert _tier_rows(path, "ana") == 0  # nothing of hers left in the hierarchy either
