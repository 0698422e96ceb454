"""The embedder role: text in, L2-normalised float32 vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from memoryd.errors import BackendUnavailableError

if TYPE_CHECKING:
    from memoryd.config import EmbedderConfig

__all__ = [
    "Embedder",
    "checked_vectors",
    "close_embedder",
    "embedder_identity",
    "limit_blas",
    "make_embedder",
    "normalise",
]

_UNIT_SLACK = 1e-4  # a row whose length is this far from 1 is normalised again


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


def checked_vectors(vectors: Any, count: int, dim: int, name: str) -> np.ndarray:
    """``vectors`` as ``count`` float32 unit rows of ``dim`` numbers, or
    :class:`~memoryd.errors.BackendUnavailableError` naming the model when they are not (another
    count or size, a NaN or infinite number, an all-zero row): the model failed, and such a
    vector must never reach an index, where it would break every search of its partition.

    Rows already of unit length (every built-in model's) are returned unchanged; others are
    normalised (a plugin that forgot to)."""
    out = np.asarray(vectors, dtype=np.float32)
    if out.shape != (count, dim):
        raise BackendUnavailableError(
            f"the embedder {name!r} returned vectors of shape {tuple(out.shape)} for {count} "
            f"texts; expected ({count}, {dim})",
            field="embedder",
        )
    if not count:
        return out
    norms = np.sqrt(np.einsum("ij,ij->i", out, out, dtype=np.float64))
    bad = ~np.isfinite(norms) | (norms == 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        what = "an all-zero vector" if norms[first] == 0 else "numbers that are not finite"
        raise BackendUnavailableError(
            f"the embedder {name!r} returned {what} for text {first} of {count} "
            f"({int(bad.sum())} such vectors); nothing was stored",
            field="embedder",
        )
    if np.abs(norms - 1.0).max() > _UNIT_SLACK:
        out = np.ascontiguousarray(out / norms[:, None], dtype=np.float32)
    return out


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


def limit_blas(threads: int) -> None:
    """Cap numpy's BLAS thread pool for this process (0: leave it alone)."""
    if threads > 0:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")
