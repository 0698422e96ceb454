"""Graph memory: entities and relations extracted from memories.

The models and the name normalisation live here, free of I/O, with a write's graph
parts prepared for a store (:mod:`memoryd.graph.writes`) and planned in memory for a
store in another engine (:mod:`memoryd.graph.plan`); the stores that keep them
implement :class:`memoryd.storage.base.GraphStore` (the embedded default is
:mod:`memoryd.storage.sqlite.graph`; :mod:`memoryd.storage.falkordb.graph` keeps
them in FalkorDB).
"""

from __future__ import annotations

from memoryd.graph.models import Entity, GraphDiff, Relation, RelationClose, RelationDraft, owner_of
from memoryd.graph.normalise import display_name, normalise_name, normalise_relation

__all__ = [
    "Entity",
    "GraphDiff",
    "Relation",
    "RelationClose",
    "RelationDraft",
    "display_name",
    "normalise_name",
    "normalise_relation",
    "owner_of",
]
