"""The embedder role: text in, L2-normalised float32 vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from memoryd.config import EmbedderConfig

__all__ = ["Embedder", "close_embedder", "embedder_identity", "make_embedder", "normalise"]


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


def make_embedder(factory: Any, config: EmbedderConfig) -> Embedder:
    """Build an embedder from its registered factory: ``factory.from_config(config)`` when the
    factory has one (embedders configured by more than threads and batch size), else
    ``factory(threads=..., batch_size=...)``."""
    from_config = getattr(factory, "from_config", None)
    if from_config is not None:
        return from_config(config)
    return factory(threads=config.threads, batch_size=config.batch_size)


def close_embedder(embedder: Embedder | None) -> None:
    """Free what ``embedder`` holds (an HTTP pool, helper threads) if it has a ``close``."""
    close = getattr(embedder, "close", None)
    if close is not None:
        close()


def embedder_identity(factory: Any, config: EmbedderConfig) -> tuple[str, int]:
    """``(name, dim)`` without loading a model: ``factory.identity(config)`` when the factory has
    one (name and size depend on the config), else its ``name`` and ``dim`` class attributes."""
    identity = getattr(factory, "identity", None)
    if identity is not None:
        name, dim = identity(config)
        return str(name), int(dim)
    return str(factory.name), int(factory.dim)
