"""The embedding cache serves a vector only to the code that computed it.

Two embedders may share a ``name`` and ``dim`` yet give other vectors: another class, or the same
class after its code changed. A cached vector of one must never be served to the other, or a
benchmark run would silently score one embedder with another's vectors.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from memoryd.bench.quality.cache import CachedEmbedder
from memoryd.embedders.use import USEEmbedder

TEXTS = ["I adopted a dog", "The cello is hard"]


class NegatedUSE:
    """Another embedder under the default one's name: the same model's vectors, negated."""

    def __init__(self, inner: USEEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return -self.inner.embed(texts)


def test_another_embedder_with_the_same_name_gets_its_own_vectors(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    path = tmp_path / "embeddings.sqlite"
    first = CachedEmbedder(embedder, path)
    first.embed(TEXTS)
    first.close()

    negated = NegatedUSE(embedder)
    second = CachedEmbedder(negated, path)
    try:
        np.testing.assert_allclose(second.embed(TEXTS), negated.embed(TEXTS), atol=1e-6)
        assert (second.hits, second.misses) == (0, 2)
    finally:
        second.close()


_VERSION = """
import numpy as np


class Scaled:
    name = "toy-embedder"
    dim = 3

    def embed(self, texts):
        rows = [[float(len(t)), 1.0, {sign}] for t in texts]
        return np.asarray(rows, dtype=np.float32) / np.linalg.norm(rows, axis=1, keepdims=True)
"""


def _load(path: Path, sign: str) -> ModuleType:
    path.write_text(_VERSION.format(sign=sign), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("toy_embedder_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import does: its classes can name their source file
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def forget_toy_module() -> Iterator[None]:
    yield
    sys.modules.pop("toy_embedder_under_test", None)


@pytest.mark.usefixtures("forget_toy_module")
def test_a_changed_embedder_code_does_not_get_the_old_vectors(tmp_path: Path) -> None:
    path = tmp_path / "embeddings.sqlite"
    source = tmp_path / "toy_embedder_under_test.py"
    old = _load(source, "1.0").Scaled()
    cache = CachedEmbedder(old, path)
    before = cache.embed(TEXTS)
    cache.close()

    new = _load(source, "-1.0").Scaled()  # same module, class, name and dim; other code
    assert (new.name, new.dim) == (old.name, old.dim)
    cache = CachedEmbedder(new, path)
    try:
        after = cache.embed(TEXTS)
        np.testing.assert_allclose(after, new.embed(TEXTS), atol=1e-6)
        assert not np.allclose(after, before)
        assert cache.misses == 2
    finally:
        cache.close()

    cache = CachedEmbedder(_load(source, "-1.0").Scaled(), path)  # the same code again: served
    try:
        np.testing.assert_array_equal(cache.embed(TEXTS), after)
        assert (cache.hits, cache.misses) == (2, 0)
    finally:
        cache.close()
