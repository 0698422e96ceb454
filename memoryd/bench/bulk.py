"""Loading large benchmark stores without embedding every text again.

Embedding 100,000 or 1,000,000 texts takes far too long on a small machine, so
the speed benchmark embeds a *pool* of synthetic sentences once and reuses it:

* :class:`PooledEmbedder` answers texts it has already embedded from the pool
  and hands everything else to the real model. It lets small tiers be loaded
  through the public ``add`` (and mem0's) without paying for embedding twice;
  :meth:`PooledEmbedder.release` empties the pool so that later calls — the
  search queries being measured — always reach the real model.
* :func:`bulk_load` writes memories straight through :meth:`Storage.commit`, in
  batches of :class:`~memoryd.storage.ChangeSet`, building records the way fast
  ``add`` does (:mod:`memoryd.ingest.fast`). Each pooled sentence is reused with
  a number token appended (:func:`memoryd.bench.corpus.vary`) and its vector
  nudged by small Gaussian noise and renormalised, so no two rows are equal.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np

from memoryd.bench.corpus import vary
from memoryd.embedders import Embedder, normalise
from memoryd.models import Event, MemoryKind, MemoryRecord, content_hash, utcnow
from memoryd.storage import ChangeSet, HistoryDraft, Storage, StoredMemory
from memoryd.text import tokenize

__all__ = ["LOAD_NOTE", "PooledEmbedder", "bulk_load", "jitter"]

LOAD_NOTE = (
    "Search tiers of up to {api} memories are loaded through the public add() with embeddings "
    "served from a pool computed earlier in the run (load='api-add'); larger tiers and the multi-user "
    "tier are bulk-loaded through Storage.commit with pooled texts + a number token and pooled vectors "
    "+ small noise (load='bulk-commit'). Every measured search goes through the public "
    "AsyncMemory.search, query embedding included. The search breakdown times each part alone: "
    "query embedding, keyword (BM25) search, vector index search, record fetch."
)
# Noise norm added to a pooled unit vector: cosine to the original stays ~0.99.
NOISE = 0.15


class PooledEmbedder:
    """An :class:`Embedder` that serves pre-computed vectors, then defers to ``inner``."""

    def __init__(self, inner: Embedder, texts: Sequence[str], vectors: np.ndarray) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._pool: dict[str, np.ndarray] = {t: vectors[i] for i, t in enumerate(texts)}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        pool = self._pool
        if pool and all(t in pool for t in texts):
            return np.stack([pool[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
        return self.inner.embed(texts)

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts)

    def release(self) -> None:
        """Forget the pool: from now on every text is embedded by the real model."""
        self._pool = {}


def jitter(vectors: np.ndarray, rng: np.random.Generator, noise: float = NOISE) -> np.ndarray:
    """``vectors`` plus Gaussian noise of norm ~``noise``, renormalised to unit length."""
    dim = vectors.shape[1]
    return normalise(vectors + rng.standard_normal(vectors.shape, dtype=np.float32) * (noise / dim**0.5))


def _record(text: str, user_id: str, now: datetime) -> MemoryRecord:
    return MemoryRecord(
        id=str(uuid.uuid4()),
        text=text,
        kind=MemoryKind.EPISODE,
        user_id=user_id,
        agent_id=None,
        run_id=None,
        metadata={},
        role="user",
        actor=None,
        source_ids=(),
        event_time=None,
        created_at=now,
        updated_at=now,
        hash=content_hash(text),
        valid_from=now,
    )


async def bulk_load(
    storage: Storage,
    pool_texts: Sequence[str],
    pool_vectors: np.ndarray,
    users: Sequence[str],
    per_user: int,
    *,
    seed: int = 0,
    batch: int = 2000,
    advance: Callable[[int], None] | None = None,
) -> int:
    """Write ``per_user`` memories for each of ``users`` through ``storage.commit``.

    User ``k`` gets a window of the pool starting at a seeded offset; every text
    gets a number token and every vector fresh noise, so all rows are distinct.
    Returns how many memories were written.
    """
    rng = np.random.default_rng(seed)
    size = len(pool_texts)
    serial = 0
    written = 0
    for user in users:
        start = int(rng.integers(size))
        done = 0
        while done < per_user:
            count = min(batch, per_user - done)
            rows = (start + done + np.arange(count)) % size
            vectors = jitter(pool_vectors[rows], rng)
            now = utcnow()
            upserts = []
            history = []
            for j, r in enumerate(rows):
                text = vary(pool_texts[int(r)], serial)
                serial += 1
                memory = _record(text, user, now)
                upserts.append(StoredMemory(memory, vectors[j], tokenize(text)))
                history.append(
                    HistoryDraft(memory.id, Event.ADD, None, text, "bench:bulk", now, {"kind": "episode"})
                )
            await storage.commit(ChangeSet(upserts=upserts, history=history))
            done += count
            written += count
            if advance is not None:
                advance(count)
    return written
