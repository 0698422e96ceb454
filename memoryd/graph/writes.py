"""A graph write in the form every graph store applies it: names normalised, text checked (pure).

:func:`graph_write` turns the graph parts of a :class:`~memoryd.storage.base.ChangeSet` into a
:class:`GraphWrite`: :class:`Add` for each draft with something to store (the rest are
``skipped``), with the end of its memory when the change set gives the memory one,
:class:`Close` for each close, the ended memories with the time they ended, the
memories current again with the time they now end (None: current), and the hard deletes. Each
store then runs them in the order the :class:`~memoryd.storage.base.GraphStore` Protocol gives
(deletes, closes, adds, ended memories, reopened memories).
Nothing here does I/O; text no engine could store (a lone surrogate) is refused here, before
anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from memoryd.errors import InvalidInputError
from memoryd.graph.models import RelationClose, RelationDraft, owner_of
from memoryd.graph.normalise import (
    display_name,
    name_keys,
    normalise_name,
    normalise_relation,
    older_name_keys,
)
from memoryd.models import Scope, require_utf8

if TYPE_CHECKING:
    from memoryd.storage.base import ChangeSet

__all__ = [
    "ENDED",
    "Add",
    "Close",
    "GraphWrite",
    "Name",
    "graph_write",
    "joined_end",
    "late_edge",
    "owner_key",
    "prepare_add",
    "prepare_close",
]

ENDED = "every memory that asserted it ended"  # the reason of a relation closed with its last memory


def owner_key(scope: Scope) -> str:
    """The owner of the entities a write under ``scope`` touches, as one string (JSON)."""
    if scope.is_empty:
        raise InvalidInputError("a graph write needs a scope (user_id, agent_id or run_id)", field="scope")
    return json.dumps(owner_of(scope))


@dataclass(frozen=True, slots=True)
class Name:
    display: str
    normal: str
    type: str | None
    aliases: tuple[tuple[str, str], ...]  # (display, normal)


@dataclass(frozen=True, slots=True)
class Add:
    owner: str
    user_id: str | None
    agent_id: str | None
    run_id: str | None
    source: Name
    relation: str
    target: Name
    memory_id: str
    valid_from: float
    until: float | None = None  # when the asserting memory ends, if this write knows it


@dataclass(frozen=True, slots=True)
class Close:
    """A close by name; ``source`` and ``target`` are every key the name is looked up by, as reads
    look it up (:func:`~memoryd.graph.normalise.name_keys`: older releases' keys too)."""

    owner: str
    source: tuple[str, ...]
    relation: str
    target: tuple[str, ...] | None
    valid_to: float
    reason: str | None


def _storable(field: str, *texts: str | None) -> None:
    """Refuse text an engine cannot store (a lone surrogate is not UTF-8) before anything is written."""
    for text in texts:
        if text is not None:
            require_utf8(text, field)


def _name(raw: str, type_: str | None, aliases: dict[str, list[str]]) -> Name:
    """The name; its aliases include the keys older releases stored for it and them (a store written
    before finds the entity by that key, and the entity gets the new one)."""
    normal = normalise_name(raw)
    extra = [(display_name(raw), old) for old in older_name_keys(raw, normal)]
    for alias in aliases.get(normal, []):
        alias_normal = normalise_name(alias)
        if alias_normal and alias_normal != normal:
            extra.append((display_name(alias), alias_normal))
            extra.extend((display_name(alias), old) for old in older_name_keys(alias, alias_normal))
    kind = display_name(type_).lower() if type_ else None
    return Name(display_name(raw), normal, kind or None, tuple(dict.fromkeys(extra)))


def prepare_add(draft: RelationDraft, now: float, until: float | None = None) -> Add | None:
    """The draft normalised (None: nothing to store, an empty name or relation); ``until``: when
    the memory asserting it ends, if known."""
    aliases: dict[str, list[str]] = {}
    for key, names in draft.aliases.items():
        aliases.setdefault(normalise_name(key), []).extend([names] if isinstance(names, str) else names)
    source = _name(draft.source, draft.source_type, aliases)
    target = _name(draft.target, draft.target_type, aliases)
    relation = normalise_relation(draft.relation)
    if not (source.normal and target.normal and relation):
        return None
    for name in (source, target):
        _storable("graph_add", name.display, name.normal, name.type, *(t for a in name.aliases for t in a))
    _storable("graph_add", relation)
    owner = owner_of(draft.scope)
    return Add(
        owner=owner_key(draft.scope),
        user_id=owner[0],
        agent_id=owner[1],
        run_id=draft.scope.run_id,
        source=source,
        relation=relation,
        target=target,
        memory_id=draft.memory_id,
        valid_from=draft.valid_from.timestamp() if draft.valid_from else now,
        until=until,
    )


def late_edge(
    edges: Sequence[tuple[str, float, float | None]], at: float, until: float | None
) -> tuple[str | None, bool]:
    """Where an assertion goes that says a relation held from ``at``, before its current edge began
    (history told late), until ``until`` (when its memory ends; None: not known). ``edges``: every
    edge of that source, relation and target as (id, valid_from, valid_to), in the order written.
    Returns the edge it joins and whether that edge's start moves back to ``at``; (None, False):
    an edge of its own, from ``at`` to ``until``, ended.

    - An ended edge whose interval holds ``at`` takes it, as it is.
    - Else the first edge to begin after ``at`` (the current one, if no other) begins at ``at`` when
      the assertion reaches it (its end unknown, or not before that edge begins): nothing of this
      relation lies between, and the assertion says it held until then.
    - Else the relation did not hold between the assertion's end and that edge's start: the
      assertion keeps an interval of its own, and no edge is moved back over the gap.
    """
    for rid, start, end in edges:
        if end is not None and start <= at < end:
            return rid, False
    start, _, rid = min((s, i, r) for i, (r, s, _) in enumerate(edges) if s > at)
    if until is None or until >= start:
        return rid, True
    return None, False


_Time = TypeVar("_Time", int, float)


def joined_end(edge_end: _Time | None, until: _Time | None) -> _Time | None:
    """When the mention of a late assertion that joined an ended edge (see :func:`late_edge`) ends:
    with that edge, or with its memory if that ends first. Never open: an open mention would make
    the ended edge current again once another of its memories is reopened."""
    if edge_end is None or until is None:
        return edge_end if until is None else until
    return min(edge_end, until)


def prepare_close(close: RelationClose) -> Close | None:
    """The close normalised (None: it names nothing, an empty name or relation); each name with every
    key it is looked up by, so a store written before closes what it keyed otherwise."""
    source, relation = tuple(name_keys([close.source])), normalise_relation(close.relation)
    target = None if close.target is None else tuple(name_keys([close.target]))
    if not source or not relation or target == ():
        return None
    _storable("graph_close", *source, relation, *(target or ()), close.reason)
    return Close(owner_key(close.scope), source, relation, target, close.valid_to.timestamp(), close.reason)


@dataclass(slots=True)
class GraphWrite:
    """The graph parts of one change set, ready to apply; ``skipped`` drafts had nothing to store."""

    adds: list[Add] = field(default_factory=list)
    closes: list[Close] = field(default_factory=list)
    ended: list[tuple[str, float]] = field(default_factory=list)  # (memory id, when it ended)
    reopened: list[tuple[str, float | None]] = field(default_factory=list)  # (memory id, its new end)
    deletes: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.adds or self.closes or self.ended or self.reopened or self.deletes)


def graph_write(changes: ChangeSet, now: float) -> GraphWrite:
    """What ``changes`` asks of the graph. An ended memory ends at its ``valid_to`` in
    ``changes.upserts``, else at ``now`` (the commit's time); a reopened one at its ``valid_to``
    there (None: it is current)."""
    out = GraphWrite()
    ends = {s.memory.id: s.memory.valid_to for s in changes.upserts if s.memory.valid_to is not None}
    for draft in changes.graph_add:
        end = ends.get(draft.memory_id)
        prepared = prepare_add(draft, now, None if end is None else end.timestamp())
        if prepared is None:
            skipped = {"source": draft.source, "relationship": draft.relation, "target": draft.target}
            out.skipped.append(skipped)
        else:
            out.adds.append(prepared)
    out.closes = [c for c in map(prepare_close, changes.graph_close) if c is not None]
    out.ended = [(mid, ends[mid].timestamp() if mid in ends else now) for mid in changes.graph_close_memories]
    reopened = changes.graph_reopen_memories
    out.reopened = [(mid, ends[mid].timestamp() if mid in ends else None) for mid in reopened]
    out.deletes = list(changes.deletes)
    return out
