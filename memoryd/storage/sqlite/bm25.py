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
    """BM25 over the terms of one scope's memories.

    The postings of a loaded partition sit in two flat arrays, term after term (:meth:`loaded`:
    built with a few numpy passes, not one Python object and one array write per posting); what
    is put after the load is appended to growing per-term postings beside them."""

    def __init__(self) -> None:
        self.rows = Rows()
        self.lengths = np.zeros(0, dtype=np.float32)
        self.postings: dict[str, _Postings] = {}
        self._total_len = 0.0
        self._postings_count = 0
        self._base: dict[str, tuple[int, int]] = {}  # term -> (start, end) in the base arrays
        self._base_slots = np.zeros(0, dtype=np.int32)
        self._base_tfs = np.zeros(0, dtype=np.float32)

    @property
    def nbytes(self) -> int:
        terms = len(self.postings) + len(self._base)
        return int(self.lengths.nbytes + 8 * self._postings_count + 64 * terms)

    @classmethod
    def loaded(cls, docs: Sequence[tuple[MemoryRecord, Sequence[str]]]) -> BM25Partition:
        """A partition holding ``docs`` (memory, terms), as :meth:`put` of each in order makes it."""
        part = cls()
        start = part.rows.extend([memory for memory, _ in docs])
        n = part.rows.n
        part.lengths = np.zeros(n, dtype=np.float32)
        part.lengths[start:] = [len(terms) for _, terms in docs]
        part._total_len = float(part.lengths[part.rows.present[:n]].sum())  # a retired slot counts no more
        vocab: dict[str, int] = {}
        codes = np.fromiter(
            (vocab.setdefault(t, len(vocab)) for _, terms in docs for t in terms), dtype=np.int64
        )
        if not vocab:
            return part
        slot = np.repeat(np.arange(start, n, dtype=np.int64), part.lengths[start:].astype(np.int64))
        # one posting per (term, slot), its count the term frequency: sorted by term, then slot
        pairs, tfs = np.unique(codes * n + slot, return_counts=True)
        terms_of = pairs // n
        part._base_slots = (pairs % n).astype(np.int32)
        part._base_tfs = tfs.astype(np.float32)
        edges = np.searchsorted(terms_of, np.arange(len(vocab) + 1)).tolist()
        part._base = {term: (edges[code], edges[code + 1]) for term, code in vocab.items()}
        part._postings_count = int(pairs.size)
        return part

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

    def _postings_of(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        """A term's postings (slots, term frequencies): the load's, then those put after it."""
        base, post = self._base.get(term), self.postings.get(term)
        if post is None:
            if base is None:
                return None
            return self._base_slots[base[0] : base[1]], self._base_tfs[base[0] : base[1]]
        slots, tfs = post.slots[: post.n], post.tfs[: post.n]
        if base is None:
            return slots, tfs
        return (
            np.concatenate((self._base_slots[base[0] : base[1]], slots)),
            np.concatenate((self._base_tfs[base[0] : base[1]], tfs)),
        )

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
            found = self._postings_of(term)
            if found is None:
                continue
            slots, tfs = found
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
