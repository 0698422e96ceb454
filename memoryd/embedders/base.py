"""The embedder role: text in, L2-normalised float32 vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Embedder", "normalise"]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors. Implementations are synchronous and CPU-bound;
    the memory core runs them off the event loop.

    ``name`` identifies the model and is stored with the database, so a store
    built with one model is never searched with another.
    """

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an ``(len(texts), dim)`` float32 array of unit vectors."""
        ...


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Return float32 unit vectors (zero rows stay zero)."""
    out = np.asarray(vectors, dtype=np.float32)
    if out.ndim == 1:
        out = out[None, :]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(out / norms, dtype=np.float32)
