"""The graph memory vocabulary: entities, relations, and the drafts a write carries.

Entities belong to an owner — the user and/or agent of a scope; a scope with
only a ``run_id`` owns a graph of its own — and are shared across that owner's
sessions, so ``run_id`` is never part of an entity's identity. A relation is a
directed, typed edge between two entities of one owner, with a validity interval
(``valid_to`` None = still true) and the memories that asserted it.

Writers never name entity ids: a :class:`RelationDraft` names its endpoints and
the store resolves (and merges) them after :mod:`memoryd.graph.normalise`. A
:class:`RelationClose` ends the validity of matching current relations; nothing
here deletes a relation except hard-deleting every memory that asserted it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from memoryd.errors import InvalidInputError
from memoryd.models import Scope

__all__ = [
    "Entity",
    "GraphDiff",
    "Relation",
    "RelationClose",
    "RelationDraft",
    "check_hops",
    "joins_namesakes",
    "owner_of",
    "with_namesakes",
]


def check_hops(hops: Any) -> None:
    """A graph store's ``neighbours`` walks one or two hops: anything else is refused, naming it."""
    if hops not in (1, 2):
        raise InvalidInputError("hops must be 1 or 2", field="hops")


def joins_namesakes(scope: Scope) -> bool:
    """Whether a walk under ``scope`` takes the entities of the graphs it reads that share a name key
    as one node: an agent of a user reads the user's shared graph and its own, one view of the same
    people and things. (Each graph keeps its entities; only the walk joins them.)"""
    return scope.user_id is not None and scope.agent_id is not None


def with_namesakes(ids: Sequence[str], namesakes: Iterable[tuple[str, str]]) -> list[str]:
    """``ids`` with, after each, its namesakes (``namesakes``: (id, namesake) pairs, each id's in the
    order to list them), once each: the entities a walk's node stands for."""
    found: dict[str, list[str]] = {}
    for entity_id, namesake in namesakes:
        found.setdefault(entity_id, []).append(namesake)
    out: dict[str, None] = {}
    for entity_id in ids:
        out[entity_id] = None
        out.update(dict.fromkeys(found.get(entity_id, ())))
    return list(out)


def owner_of(scope: Scope) -> tuple[str | None, str | None, str | None]:
    """Who owns the entities written under ``scope``: (user_id, agent_id, run_id).

    The run is part of the owner only when the scope names neither a user nor an
    agent, so anonymous sessions never share nodes.
    """
    if scope.user_id is None and scope.agent_id is None:
        return (None, None, scope.run_id)
    return (scope.user_id, scope.agent_id, None)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class Entity:
    """One node: a person, organisation, place, pet, food, ... of one owner."""

    id: str
    name: str  # display form, as first seen
    normal: str  # the merge key (normalise_name)
    type: str | None
    aliases: tuple[str, ...]  # other names that resolve to this entity
    user_id: str | None
    agent_id: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "aliases": list(self.aliases),
            "user_id": self.user_id,
            "agent_id": self.agent_id,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Relation:
    """One edge ``source --relation--> target`` and when it was true."""

    id: str
    source: Entity
    relation: str  # snake_case (normalise_relation)
    target: Entity
    memory_id: str  # the first memory that asserted it
    memory_ids: tuple[str, ...]  # every memory that asserted it, oldest first
    run_id: str | None  # the session of the first assertion
    valid_from: datetime
    valid_to: datetime | None
    reason: str | None  # why its validity ended, when it did
    created_at: datetime

    @property
    def is_current(self) -> bool:
        return self.valid_to is None

    def triple(self) -> dict[str, str]:
        """mem0's shape: ``{"source", "relationship", "target"}`` by display name."""
        return {"source": self.source.name, "relationship": self.relation, "target": self.target.name}

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.triple(),
            "id": self.id,
            "source_id": self.source.id,
            "target_id": self.target.id,
            "source_type": self.source.type,
            "target_type": self.target.type,
            "memory_id": self.memory_id,
            "memory_ids": list(self.memory_ids),
            "run_id": self.run_id,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": _iso(self.valid_to),
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RelationDraft:
    """A relation to add, by entity names; the store resolves and merges the names.

    ``aliases`` maps a name used as ``source`` or ``target`` to other names of the
    same entity (``{"Bob": ["Robert"]}``): entities already known under any of
    them become one. ``valid_from`` None means the time of the write. Adding a
    relation that is already current only records ``memory_id`` as one more
    source of it (no duplicate edge); one dated before its current edge began (told
    late) is never stretched over a gap (:func:`memoryd.graph.writes.late_edge`).
    """

    source: str
    relation: str
    target: str
    memory_id: str
    scope: Scope
    source_type: str | None = None
    target_type: str | None = None
    valid_from: datetime | None = None
    aliases: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RelationClose:
    """End the validity of the owner's current ``source --relation--> target`` at ``valid_to``.

    ``target`` None closes that relation to every target ("Alice no longer works
    anywhere"). Only the owner (user/agent) of ``scope`` counts: a fact stops
    being true whichever session asserted it. Relations that began after
    ``valid_to`` are left alone.
    """

    scope: Scope
    source: str
    relation: str
    valid_to: datetime
    target: str | None = None
    reason: str | None = None


@dataclass(slots=True)
class GraphDiff:
    """What one commit did to the graph, in mem0's ``{source, relationship, target}`` shape.

    ``added`` lists new edges and edges current again (a memory that asserted them is
    current again; an assertion of an already current edge is not new), ``closed`` the
    edges whose validity ended, ``skipped`` drafts that had nothing to store (an empty
    name or relation after normalisation).
    """

    added: list[dict[str, str]] = field(default_factory=list)
    closed: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.closed)

    def extend(self, other: GraphDiff) -> None:
        self.added.extend(other.added)
        self.closed.extend(other.closed)
        self.skipped.extend(other.skipped)

    def to_dict(self) -> dict[str, list[dict[str, str]]]:
        """The ``relations`` member of an add response, as mem0 names it."""
        return {"added_entities": list(self.added), "deleted_entities": list(self.closed)}
