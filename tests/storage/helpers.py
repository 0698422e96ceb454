"""Builders for conformance tests: memories and vectors without an embedder."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from memoryd.config import Settings
from memoryd.ingest.represent import INDEX_FORMAT
from memoryd.models import MemoryKind, MemoryRecord, content_hash
from memoryd.storage import ChangeSet, Storage, StoredMemory, build_storage
from memoryd.text import tokenize

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DIM = 8  # the size of unit() vectors
MODEL = "test-model"  # the embedder name the conformance stores are opened with


def unit(*values: float, dim: int = 8) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[: len(values)] = values
    return v / np.linalg.norm(v)


def record(
    text: str,
    *,
    user_id: str | None = "u1",
    agent_id: str | None = None,
    run_id: str | None = None,
    days: float = 0,
    metadata: dict[str, Any] | None = None,
    valid_to: datetime | None = None,
    kind: MemoryKind = MemoryKind.EPISODE,
    role: str = "user",
) -> MemoryRecord:
    when = T0 + timedelta(days=days)
    return MemoryRecord(
        id=str(uuid.uuid4()),
        text=text,
        kind=kind,
        user_id=user_id,
        agent_id=agent_id,
        run_id=run_id,
        metadata=metadata or {},
        role=role,
        actor=None,
        source_ids=(),
        event_time=when,
        created_at=when,
        updated_at=when,
        hash=content_hash(text),
        valid_from=when,
        valid_to=valid_to,
    )


def stored(memory: MemoryRecord, vector: np.ndarray) -> StoredMemory:
    return StoredMemory(memory, vector, tokenize(memory.text))


def adds(*items: tuple[MemoryRecord, np.ndarray]) -> ChangeSet:
    return ChangeSet(upserts=[stored(m, v) for m, v in items])


@asynccontextmanager
async def opened(settings: Settings, model: str = MODEL, dim: int = DIM) -> AsyncIterator[Storage]:
    """The store of ``settings``, open (closed after, whatever happens), its keyword terms' format
    recorded as AsyncMemory records it (the terms :func:`stored` writes are this release's)."""
    storage = build_storage(settings)
    try:
        await storage.open(model, dim)
        await storage.records.setdefault_meta("index_format", INDEX_FORMAT)
        yield storage
    finally:
        await storage.close()
