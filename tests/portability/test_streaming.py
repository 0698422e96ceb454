"""Export and import stream: the Python memory they hold stays a few pages, not the store.

The store is written through Storage.commit (records, random unit vectors, terms) so that
it is quick to build; tracemalloc measures what export and import allocate at their peak.
"""

from __future__ import annotations

import tracemalloc
import uuid
from pathlib import Path

import numpy as np

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.models import Event, MemoryKind, MemoryRecord, content_hash, utcnow
from memoryd.portability import export_store, import_store
from memoryd.storage import ChangeSet, HistoryDraft, StoredMemory
from tests.portability.conftest import store_settings

MEMORIES = 4000


async def _bulk(mem: AsyncMemory) -> None:
    rng = np.random.default_rng(0)
    now = utcnow()
    for start in range(0, MEMORIES, 1000):
        changes = ChangeSet()
        for i in range(start, start + 1000):
            text = f"memory number {i} about topic {i % 37} and a little more text to make it real"
            m = MemoryRecord(str(uuid.uuid4()), text, MemoryKind.EPISODE, f"u{i % 3}", None, f"s{i // 50}",
                             {"i": i}, "user", None, (), None, now, now, content_hash(text), now)  # fmt: skip
            vector = rng.standard_normal(512).astype(np.float32)
            changes.upserts.append(StoredMemory(m, vector / np.linalg.norm(vector), text.split()))
            changes.history.append(HistoryDraft.of(m, Event.ADD, None, text, "test", now))
        await mem.storage.commit(changes)


async def test_export_and_import_hold_pages_not_the_store(tmp_path: Path, embedder: USEEmbedder) -> None:
    out = tmp_path / "big.jsonl"
    async with AsyncMemory(store_settings(tmp_path / "big.db"), embedder=embedder) as mem:
        await _bulk(mem)
        tracemalloc.start()
        try:
            summary = await export_store(mem, out, page_size=100)
            _, export_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert summary.counts["memory"] == MEMORIES and summary.counts["history"] == MEMORIES
    size = out.stat().st_size
    assert size > 13 * 2**20  # ~3.5 kB a memory: vector, terms, record, history
    async with AsyncMemory(store_settings(tmp_path / "copy.db"), embedder=embedder) as mem:
        tracemalloc.start()
        try:
            done = await import_store(mem, out, batch_size=100)
            _, import_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert done.counts["memory"] == MEMORIES
    # Holding the store would take more than the file; a page is 1/40 of it.
    assert export_peak < size / 8, (export_peak, size)
    assert import_peak < size / 8, (import_peak, size)
