"""The synthetic benchmark corpus is deterministic, distinct and varied; pool helpers behave."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from memoryd.bench.bulk import PooledEmbedder, jitter
from memoryd.bench.corpus import MAX_WORDS, MIN_WORDS, queries, sentences, vary


def test_same_seed_same_texts_other_seed_other_texts() -> None:
    assert sentences(300, seed=7) == sentences(300, seed=7)
    assert queries(100, seed=7) == queries(100, seed=7)
    assert sentences(300, seed=7) != sentences(300, seed=8)
    assert sentences(50, seed=7) == sentences(300, seed=7)[:50]  # a prefix does not depend on n


def test_sentences_are_distinct_chat_like_and_bounded() -> None:
    texts = sentences(5000)
    assert len(set(texts)) == 5000
    lengths = [len(t.split()) for t in texts]
    assert min(lengths) >= MIN_WORDS and max(lengths) <= MAX_WORDS
    assert max(lengths) - min(lengths) >= 10  # short and long ones
    assert all(t[0].isupper() and t.endswith(".") for t in texts)


def test_sentences_vary_in_vocabulary_names_places_and_numbers() -> None:
    texts = sentences(5000)
    words = {w.strip(".,'").lower() for t in texts for w in t.split()}
    assert len(words) > 1000
    for name in ("alice", "kenji", "fatima"):
        assert name in words
    for place in ("lisbon", "nairobi", "kyoto"):
        assert place in words
    assert sum(1 for t in texts if re.search(r"\d", t)) > 1000
    first_words = {t.split()[0] for t in texts}
    assert len(first_words) > 20  # not one template over and over


def test_queries_are_distinct_questions() -> None:
    qs = queries(1000)
    assert len(set(qs)) == 1000
    assert all(q.endswith("?") and 3 <= len(q.split()) <= 16 for q in qs)
    assert not set(qs) & set(sentences(1000))


def test_vary_makes_distinct_texts() -> None:
    base = sentences(1)[0]
    variants = {vary(base, i) for i in range(100)}
    assert len(variants) == 100 and all(v.startswith(base.rstrip(".")) for v in variants)


class _Counting:
    name, dim = "counting", 4

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.ones((len(texts), 4), dtype=np.float32) / 2


def test_pooled_embedder_serves_the_pool_until_released() -> None:
    inner = _Counting()
    vectors = np.eye(4, dtype=np.float32)[:2]
    pooled = PooledEmbedder(inner, ["a", "b"], vectors)
    assert (pooled.name, pooled.dim) == ("counting", 4)
    assert np.array_equal(pooled.embed(["b", "a"]), vectors[[1, 0]])
    assert inner.calls == []
    pooled.embed(["a", "new"])  # any miss goes to the real model
    pooled.release()
    pooled(["a"])
    assert inner.calls == [["a", "new"], ["a"]]


def test_jitter_keeps_unit_vectors_close_but_distinct() -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((50, 512)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    moved = jitter(base, rng)
    assert moved.dtype == np.float32
    assert np.allclose(np.linalg.norm(moved, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(base * moved, axis=1)
    assert cosines.min() > 0.97 and cosines.max() < 0.9999
