"""Backend-neutral rows that backup, import and the integrity check read and write.

Every storage role can list what it holds in these shapes, page by page, and
the graph store can write its rows back verbatim (ids, names, validity and
mentions kept), so an export made from one backend can be imported into another.

- :class:`IndexEntry`: what an index (or the record store) holds for one memory,
  without its content: its id, scope and end of validity. Listed in memory-id
  order, so two roles can be compared by merging their lists.
- :class:`EntityRow`, :class:`RelationRow`, :class:`MentionRow`: the graph as stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["EntityRow", "IndexEntry", "MentionRow", "Owner", "RelationRow"]

Owner = tuple[str | None, str | None, str | None]  # (user_id, agent_id, run_id): see graph.models.owner_of


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One memory as a role knows it: id, scope and end of validity (None: current)."""

    memory_id: str
    user_id: str | None
    agent_id: str | None
    run_id: str | None
    valid_to: datetime | None


@dataclass(frozen=True, slots=True)
class EntityRow:
    """One graph node as stored. ``names`` lists every (normalised, display) name that
    resolves to it, its own included, oldest first."""

    id: str
    owner: Owner
    name: str
    normal: str
    type: str | None
    names: tuple[tuple[str, str], ...]
    created_at: datetime

    @property
    def user_id(self) -> str | None:
        return self.owner[0]

    @property
    def agent_id(self) -> str | None:
        return self.owner[1]


@dataclass(frozen=True, slots=True)
class MentionRow:
    """One memory asserting a relation: in which session, and until when (None: still current)."""

    memory_id: str
    run_id: str | None
    valid_to: datetime | None


@dataclass(frozen=True, slots=True)
class RelationRow:
    """One graph edge as stored, with every memory that asserted it, oldest first."""

    id: str
    user_id: str | None
    agent_id: str | None
    source_id: str
    relation: str
    target_id: str
    memory_id: str
    run_id: str | None
    valid_from: datetime
    valid_to: datetime | None
    reason: str | None
    created_at: datetime
    mentions: tuple[MentionRow, ...]
