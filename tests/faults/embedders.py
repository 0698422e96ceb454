"""Embedders registered for tests (real implementations of the Embedder protocol, in the registry).

Both wrap the session's real USE model (``inner``, set by the fixtures that register them):

- :class:`FlakyEmbedder` is USE under USE's own name, so it opens stores USE built, and fails on
  demand the way a remote embedder does when its server is down (``BackendUnavailableError``).
- :class:`HalfEmbedder` is "another model": USE projected to 256 dimensions, under its own name.

:class:`CountingEmbedder` wraps a given model (passed as ``embedder=``) and counts what it embeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from memoryd.embedders import Embedder, normalise
from memoryd.errors import BackendUnavailableError

__all__ = ["CountingEmbedder", "FlakyEmbedder", "HalfEmbedder"]


class CountingEmbedder:
    """A model under its own name and size, counting the texts it embeds (``texts``)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim, self.texts = inner, inner.name, inner.dim, 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.embed(texts)


class FlakyEmbedder:
    name = "use-multilingual-v3"
    dim = 512
    inner: ClassVar[Embedder | None] = None
    failing: ClassVar[bool] = False
    crashing: ClassVar[bool] = False  # fail like a local model does: a plain exception
    calls: ClassVar[int] = 0

    def __init__(self, *, threads: int = 2, batch_size: int = 64) -> None:
        assert self.inner is not None, "set FlakyEmbedder.inner first"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        type(self).calls += 1
        if self.failing:
            raise BackendUnavailableError("embedder 'flaky' is unreachable (connection refused)")
        if self.crashing:
            raise RuntimeError("out of memory while running the model")
        assert self.inner is not None
        return self.inner.embed(texts)


class HalfEmbedder:
    name = "test:use-half"
    dim = 256
    inner: ClassVar[Embedder | None] = None
    _basis = np.linalg.qr(np.random.default_rng(7).standard_normal((512, 256)))[0].astype(np.float32)

    def __init__(self, *, threads: int = 2, batch_size: int = 64) -> None:
        assert self.inner is not None, "set HalfEmbedder.inner first"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        assert self.inner is not None
        return normalise(self.inner.embed(texts) @ self._basis)
