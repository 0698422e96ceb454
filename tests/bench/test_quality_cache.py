"""The persistent embedding cache: same vectors as the model, no second computation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from memoryd.bench.quality.cache import CachedEmbedder
from memoryd.embedders import Embedder
from memoryd.embedders.use import USEEmbedder


class CountingEmbedder:
    """The real model, counting the texts it is asked to embed."""

    def __init__(self, inner: Embedder, name: str | None = None) -> None:
        self.inner = inner
        self.name = name or inner.name
        self.dim = inner.dim
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.embed(texts)


def test_cache_serves_identical_vectors_without_recomputing(tmp_path: Path, embedder: USEEmbedder) -> None:
    counting = CountingEmbedder(embedder)
    path = tmp_path / "cache" / "embeddings.sqlite"
    cache = CachedEmbedder(counting, path)
    assert isinstance(cache, Embedder) and (cache.name, cache.dim) == (embedder.name, embedder.dim)
    texts = ["I adopted a dog", "The cello is hard", "I adopted a dog"]
    first = cache.embed(texts)
    assert counting.calls == [["I adopted a dog", "The cello is hard"]]  # misses batched, once each
    np.testing.assert_allclose(first, embedder.embed(texts), atol=1e-6)
    assert first.dtype == np.float32 and first.shape == (3, embedder.dim)
    again = cache.embed(["The cello is hard", "I adopted a dog"])
    assert len(counting.calls) == 1
    assert np.array_equal(again, first[[1, 0]])
    mixed = cache.embed(["I adopted a dog", "A new sentence"])
    assert counting.calls[-1] == ["A new sentence"]
    assert np.array_equal(mixed[0], first[0])
    assert (cache.hits, cache.misses) == (4, 3)
    cache.close()

    reopened_inner = CountingEmbedder(embedder)
    reopened = CachedEmbedder(reopened_inner, path)  # persisted across instances
    assert np.array_equal(reopened.embed(["The cello is hard"]), first[1:2])
    assert reopened_inner.calls == []
    with reopened.bypass():  # straight to the model, nothing stored
        reopened.embed(["Only while bypassed"])
    assert reopened_inner.calls == [["Only while bypassed"]]
    reopened.embed(["Only while bypassed"])
    assert len(reopened_inner.calls) == 2
    reopened.close()

    other = CountingEmbedder(embedder, name="another-model")
    keyed_by_model = CachedEmbedder(other, path)
    keyed_by_model.embed(["I adopted a dog"])
    assert other.calls == [["I adopted a dog"]]
    assert keyed_by_model.embed([]).shape == (0, embedder.dim)
    keyed_by_model.close()
