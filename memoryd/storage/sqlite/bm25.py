"""An in-memory BM25 inverted index for one scope: numpy postings, no I/O.

Postings are append-only arrays of (slot, term frequency) per term. Scores use
Okapi BM25 (k1 = 1.2, b = 0.75) with statistics of the scope itself — document
count, document frequencies and average length are those of the user's (or
agent's, or run's) own memories, which is what ranks *their* words well.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from memoryd.models import MemoryRecord, Scope
from memoryd.storage.sqlite.rows import Rows, grow

__all__ = ["BM25Partition"]

K1 = 1.2
B = 0.75


class _Postings:
    __slots__ = ("n", "slots", "tfs")

    def __init__(self) -> None:
        self.n = 0
        self.slots = np.zeros(4, dtype=np.int32)
        self.tfs = np.zeros(4, dtype=np.float32)

    def add(self, slot: int, tf: int) -> None:
        if self.n == self.slots.shape[0]:
            self.slots = grow(self.slots, self.n + 1)
            self.tfs = grow(self.tfs, self.n + 1)
        self.slots[self.n] = slot
        self.tfs[self.n] = tf
        self.n += 1


class BM25Partition:
    """BM25 over the terms of one scope's memories."""

    def __init__(self) -> None:
        self.rows = Rows()
        self.lengths = np.zeros(0, dtype=np.float32)
        self.postings: dict[str, _Postings] = {}
        self._total_len = 0.0
        self._postings_count = 0

    @property
    def nbytes(self) -> int:
        return int(self.lengths.nbytes + 8 * self._postings_count + 64 * len(self.postings))

    def put(self, memory: MemoryRecord, terms: Sequence[str] | None) -> None:
        i = self.rows.pos.get(memory.id)
        if terms is None:
            if i is not None:
                self.rows.update(i, memory)
            return
        if i is not None:
            self._total_len -= float(self.lengths[i])
        i = self.rows.new_slot(memory)  # the text changed: a fresh slot, the old one retires
        self.lengths = grow(self.lengths, self.rows.n)
        self.lengths[i] = len(terms)
        self._total_len += len(terms)
        for term, tf in Counter(terms).items():
            post = self.postings.get(term)
            if post is None:
                post = self.postings[term] = _Postings()
            post.add(i, tf)
            self._postings_count += 1

    def drop(self, memory_id: str) -> None:
        i = self.rows.pos.get(memory_id)
        if i is not None:
            self._total_len -= float(self.lengths[i])
            self.rows.drop(memory_id)

    def search(
        self, terms: Sequence[str], scope: Scope, limit: int, allowed: set[str] | None
    ) -> list[tuple[str, float]]:
        n = self.rows.n
        present = self.rows.present[:n]
        docs = int(present.sum())
        if docs == 0:
            return []
        avg_len = max(self._total_len / docs, 1e-9)
        scores = np.zeros(n, dtype=np.float32)
        for term in dict.fromkeys(terms):
            post = self.postings.get(term)
            if post is None:
                continue
            slots, tfs = post.slots[: post.n], post.tfs[: post.n]
            alive = present[slots]
            df = int(alive.sum())
            if df == 0:
                continue
            slots, tfs = slots[alive], tfs[alive]
            idf = math.log(1.0 + (docs - df + 0.5) / (df + 0.5))
            norm = K1 * (1.0 - B + B * self.lengths[slots] / avg_len)
            scores[slots] += idf * tfs * (K1 + 1.0) / (tfs + norm)
        keep = self.rows.mask(scope, allowed) & (scores > 0)
        return self.rows.top(scores, keep, limit)
