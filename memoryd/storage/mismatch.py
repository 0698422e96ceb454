"""The refusal every vector index gives a store whose vectors another embedder made."""

from __future__ import annotations

from memoryd.errors import EmbedderMismatchError

__all__ = ["embedder_mismatch"]


def embedder_mismatch(
    where: str, count: int, stored_model: str | None, stored_dim: object, model: str, dim: int
) -> EmbedderMismatchError:
    """The error for ``where`` (a store or collection) holding ``count`` vectors of another model."""
    return EmbedderMismatchError(
        f"the store at {where} holds {count} vectors made by embedder "
        f"'{stored_model}' ({stored_dim} dimensions), but the configured embedder is "
        f"'{model}' ({dim} dimensions). Set the embedder settings (embedder.provider, "
        "embedder.model, embedder.dim) back to those that built the store, point "
        "storage.path at a new file, or re-embed every memory with the configured model: "
        "`memoryd reindex` (vectors of different models are never mixed).",
        field="embedder",
        stored_model=stored_model,
        configured_model=model,
    )
