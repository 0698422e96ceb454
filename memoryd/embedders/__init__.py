"""Embedding models: the :class:`Embedder` protocol and its implementations."""

from memoryd.embedders.base import Embedder, normalise

__all__ = ["Embedder", "normalise"]
