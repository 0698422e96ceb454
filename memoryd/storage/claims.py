"""What an import into a new store records beside the store's id in a vector index or graph of
another engine (a PostgreSQL table, a Qdrant or Milvus collection, a FalkorDB graph) while it
runs: the file it reads and the path of the store it fills (:class:`ImportClaim`).

An import that is killed leaves its store unfinished (it refuses to open, and ``memoryd import
--restart`` removes it with its index). When that store's file is then deleted by hand, the index
still records its id, and every other store is refused it; the claim lets ``memoryd import
--restart`` (:mod:`memoryd.portability.leftovers`) release it: only while no store at the claim's
path holds that id (:func:`owner_exists`), so an index whose store still exists is never
deleted. A finished import removes its claim.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memoryd.errors import ConflictError

__all__ = ["ImportClaim", "abandoned", "owner_exists", "refusal"]


@dataclass(frozen=True)
class ImportClaim:
    """An import of ``source`` into the new store at ``path`` (absolute) that has not finished."""

    source: str
    path: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "path": self.path}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def of(cls, value: Any) -> ImportClaim | None:
        """The claim recorded as ``value`` (a dict, or its JSON text); None for none, or a damaged one."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        if not isinstance(value, dict):
            return None
        source, path = value.get("source"), value.get("path")
        return cls(source, path) if isinstance(source, str) and isinstance(path, str) and path else None


def owner_exists(claim: ImportClaim, store: str) -> bool:
    """Whether the store at the claim's path is the store ``store`` (its SQLite file records that
    id); a file there that cannot be read counts as that store (nothing is deleted for it)."""
    path = Path(claim.path)
    if not path.exists():
        return False
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return True
    return bool(row) and row[0] == store


def refusal(setting: str, recorded: str, claim: ImportClaim) -> str:
    """The end of the refusal of an index or graph that the unfinished import ``claim`` (into the
    store ``recorded``) claimed: how to get it back."""
    where = f"an import of {claim.source} into {claim.path} that did not finish"
    if owner_exists(claim, recorded):
        return (
            f"{where} (that store still exists). `memoryd import --restart {claim.source}` with "
            f"storage.path = {claim.path} deletes that store with what it made and imports the file "
            f"again; or give this store its own with {setting}"
        )
    return (
        f"{where}, and that store is gone. `memoryd import --restart FILE` with these settings "
        f"releases it and imports FILE (that import read {claim.source}); or give this store its "
        f"own with {setting}"
    )


def abandoned(meta: dict[str, Any] | None, what: str) -> ImportClaim | None:
    """The claim of an unfinished import whose store is gone, recorded in ``meta`` (an index's or
    graph's record: ``store``, ``import``): what ``memoryd import --restart`` may release. None
    when no import claimed it; :class:`ConflictError` when the store that did still exists."""
    claim = ImportClaim.of((meta or {}).get("import"))
    store = (meta or {}).get("store")
    if claim is None or not isinstance(store, str) or not store:
        return None
    if owner_exists(claim, store):
        raise ConflictError(
            f"{what} belongs to the store at {claim.path}, whose import of {claim.source} did not finish, "
            f"and that store still exists: nothing was deleted. `memoryd import --restart` with "
            f"storage.path = {claim.path} deletes it with what it made and imports again",
            field="restart",
        )
    return claim
