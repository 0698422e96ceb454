"""The refusal every vector index gives a store whose vectors another embedder made."""

from __future__ import annotations

from memoryd.errors import EmbedderMismatchError, StorageError
from memoryd.wording import counted

__all__ = ["embedder_mismatch", "moved_meanwhile"]


def embedder_mismatch(
    where: str, count: int, stored_model: str | None, stored_dim: object, model: str, dim: int,
    *, own_index: str | None = None,
) -> EmbedderMismatchError:
    """The error for ``where`` (a store or collection) holding ``count`` vectors of another model;
    ``own_index``: the setting of a server's table or collection, which is the old store's whatever
    the file, so a store of its own needs a new one too (``details["new_store"]`` says how)."""
    new_store = "point storage.path at a new file"
    if own_index is not None:  # storage.postgres.table -> "... at a new table"
        new_store += f" and {own_index} at a new {own_index.rsplit('.', 1)[-1]}"
    return EmbedderMismatchError(
        f"the store at {where} holds {counted(count, 'vector', 'vectors')} made by embedder "
        f"'{stored_model}' ({stored_dim} dimensions), but the configured embedder is "
        f"'{model}' ({dim} dimensions). Set the embedder settings (embedder.provider, "
        f"embedder.model, embedder.dim) back to those that built the store, {new_store}, "
        "or re-embed every memory with the configured model: "
        "`memoryd reindex` (vectors of different models are never mixed).",
        field="embedder",
        stored_model=stored_model,
        configured_model=model,
        new_store=new_store,
    )


def moved_meanwhile(
    where: str | None, stored: tuple[object, object], opened: tuple[str, int], then: str = "Restart"
) -> StorageError:
    """The error for a store a `memoryd reindex` moved to the model ``stored`` (name, size) while
    this process had it open with the model ``opened``: ``then`` what to do (a write: nothing was
    written) with this process. A 503: the process, not the request, must change."""
    store = f"the store at {where}" if where else "the store"
    return StorageError(
        f"{store} was moved to embedder '{stored[0]}' ({stored[1]} dimensions) since this "
        f"process opened it with '{opened[0]}' ({opened[1]} dimensions): a `memoryd reindex` with another "
        f"model ran meanwhile. {then} this process with the embedder settings the store has now "
        "(embedder.provider, embedder.model, embedder.dim)",
        field="embedder",
        stored_model=stored[0],
        configured_model=opened[0],
    )
