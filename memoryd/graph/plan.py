"""A graph write planned in memory over the part of a stored graph it touches (pure, no I/O).

For a graph store in another engine than the record store (FalkorDB), where each query is a
round trip: the store loads what a write will read into a :class:`Snapshot`, :class:`Planner`
runs the write on it with exactly the rules of the embedded store
(:mod:`memoryd.storage.sqlite.graph`: resolve and merge names, add, close, end, delete,
settle), and :meth:`Planner.delta` lists the rows to write back, in one request.

A snapshot is *partial*: it holds the names of the keys asked for, the relations between two
entities with one relation name (``triples``), out of an entity with one relation name
(``outs``), touching an entity (``touching``), the mentions of memories (``memories``), each
loaded relation with all its mentions and both its entities, and how many relations touch the
entities a delete or an ended memory may leave unused (``degree``). An add reads only the
relations between its two entities, so an entity with thousands of relations (the user) costs a
write no more than any other. When the plan needs more (an alias merge reaches another entity's
relations), it raises :class:`Need`; the store loads that too and plans again from the start.

Rows keep the order they were written in with ``seq``, one counter for the whole graph (the
embedded store's rowids); times are whole microseconds since the epoch.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

from memoryd.graph.models import GraphDiff
from memoryd.graph.writes import ENDED, Add, Close, GraphWrite, Name, joined_end, late_edge
from memoryd.models import new_id

__all__ = [
    "Delta",
    "EntityState",
    "MentionState",
    "NameState",
    "Need",
    "Planner",
    "RelationState",
    "Snapshot",
    "micros",
    "name_key",
]


def micros(seconds: float) -> int:
    """A time in whole microseconds (exact for every time a datetime holds)."""
    return round(seconds * 1_000_000)


def name_key(owner: str, normal: str) -> str:
    """One string per (owner, normal): an owner key is JSON, which never holds a raw tab."""
    return f"{owner}\t{normal}"


@dataclass(slots=True)
class EntityState:
    id: str
    owner: str
    user_id: str | None
    agent_id: str | None
    name: str
    normal: str
    type: str | None
    created_at: int
    seq: int


@dataclass(slots=True)
class NameState:
    owner: str
    normal: str
    name: str
    entity_id: str
    seq: int

    @property
    def key(self) -> str:
        return name_key(self.owner, self.normal)


@dataclass(slots=True)
class RelationState:
    id: str
    user_id: str | None
    agent_id: str | None
    source: str
    relation: str
    target: str
    memory_id: str
    run_id: str | None
    valid_from: int
    valid_to: int | None
    reason: str | None
    created_at: int
    seq: int


@dataclass(slots=True)
class MentionState:
    relation_id: str
    memory_id: str
    run_id: str | None
    valid_to: int | None
    seq: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.relation_id, self.memory_id)


@dataclass(slots=True)
class Snapshot:
    """What the store loaded, and what for (the completeness the planner relies on)."""

    seq: int  # the graph's counter when loaded; the write fails if it moved since
    names: dict[str, NameState | None] = field(default_factory=dict)  # by name_key; None: absent
    entities: dict[str, EntityState] = field(default_factory=dict)
    relations: dict[str, RelationState] = field(default_factory=dict)
    mentions: dict[str, list[MentionState]] = field(default_factory=dict)  # every one, per relation
    degree: dict[str, int] = field(default_factory=dict)  # relations touching an entity (some)
    triples: set[tuple[str, str, str]] = field(default_factory=set)  # (source, relation, target)
    outs: set[tuple[str, str]] = field(default_factory=set)  # (entity, relation): every one loaded
    touching: set[str] = field(default_factory=set)  # entities: every relation touching them loaded
    memories: set[str] = field(default_factory=set)  # memory ids: every mention of them loaded


class Need(Exception):  # noqa: N818 - a request for more rows, not an error
    """The plan needs rows the snapshot does not hold: load them and plan again."""

    def __init__(
        self,
        *,
        keys: Iterable[str] = (),
        triples: Iterable[tuple[str, str, str]] = (),
        outs: Iterable[tuple[str, str]] = (),
        touching: Iterable[str] = (),
        entities: Iterable[str] = (),
        memories: Iterable[str] = (),
    ) -> None:
        super().__init__("more of the graph is needed")
        self.keys = sorted(set(keys))
        self.triples = sorted(set(triples))
        self.outs = sorted(set(outs))
        self.touching = sorted(set(touching))
        self.entities = sorted(set(entities))
        self.memories = sorted(set(memories))


@dataclass(slots=True)
class Delta:
    """The rows one write changes, in the order they are written back.

    ``repoint`` moves every name of a merged entity (loaded or not) to the entity it ended in,
    ``drop_names_of`` deletes every name of entities deleted as orphans; then the names that
    changed are deleted by key (``name_deletes``) and those that are kept created (``names``).
    A relation whose ends moved (a merge) is deleted and created again with its id."""

    seq: int  # the counter the snapshot was loaded at
    next_seq: int
    repoint: list[tuple[str, str]] = field(default_factory=list)
    drop_names_of: list[str] = field(default_factory=list)
    name_deletes: list[str] = field(default_factory=list)
    names: list[NameState] = field(default_factory=list)
    entity_creates: list[EntityState] = field(default_factory=list)
    entity_updates: list[EntityState] = field(default_factory=list)
    entity_deletes: list[str] = field(default_factory=list)
    relation_deletes: list[str] = field(default_factory=list)
    relation_creates: list[RelationState] = field(default_factory=list)
    relation_updates: list[RelationState] = field(default_factory=list)
    mention_deletes: list[tuple[str, str]] = field(default_factory=list)
    mention_creates: list[MentionState] = field(default_factory=list)
    mention_updates: list[MentionState] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.next_seq != self.seq or any(
            (self.repoint, self.drop_names_of, self.name_deletes, self.names, self.entity_updates,
             self.entity_deletes, self.relation_deletes, self.relation_updates, self.mention_deletes,
             self.mention_updates)
        )  # fmt: skip


class Planner:
    """One graph write run over a snapshot (see the module docstring); raises :class:`Need`."""

    def __init__(self, snap: Snapshot, now: float) -> None:
        self.snap = snap
        self.now = micros(now)
        self.seq = snap.seq
        self.names = copy.deepcopy(snap.names)
        self.entities = copy.deepcopy(snap.entities)
        self.relations = copy.deepcopy(snap.relations)
        self.mentions = copy.deepcopy(snap.mentions)
        self.new: set[str] = set()  # entities created by this write (nothing of them is stored)
        self.merged: dict[str, str] = {}  # loser -> survivor
        self.dropped: list[str] = []  # entities deleted as orphans
        self.diff = GraphDiff()

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def run(self, write: GraphWrite) -> Planner:
        """Apply ``write`` in the Protocol's order: hard deletes, closes, adds, ended memories,
        reopened memories."""
        if write.deletes:
            self.delete_memories(write.deletes)
        for close in write.closes:
            self.close(close)
        for add in write.adds:
            self.add(add)
        if write.ended:
            self.end_memories(write.ended)
        if write.reopened:
            self.reopen_memories(write.reopened)
        return self

    # -- what the snapshot answers (or Need) ------------------------------------------------
    def lookup(self, owner: str, normal: str) -> str | None:
        key = name_key(owner, normal)
        if key not in self.names:
            raise Need(keys=[key])
        row = self.names[key]
        return None if row is None else row.entity_id

    def _complete(self, entity_id: str) -> bool:
        return entity_id in self.new or entity_id in self.snap.touching

    def out(self, source: str, relation: str) -> list[RelationState]:
        """Every relation ``source --relation--> *`` (any validity), oldest first."""
        self.require_outs([(source, relation)])
        found = [r for r in self.relations.values() if r.source == source and r.relation == relation]
        return sorted(found, key=lambda r: r.seq)

    def require_outs(self, keys: Iterable[tuple[str, str]]) -> None:
        missing = [k for k in keys if not self._complete(k[0]) and k not in self.snap.outs]
        if missing:
            raise Need(outs=missing)

    def between(self, source: str, relation: str, target: str) -> list[RelationState]:
        """Every relation ``source --relation--> target`` (any validity), oldest first."""
        self.require_triples([(source, relation, target)])
        found = [r for r in self.relations.values()
                 if r.source == source and r.relation == relation and r.target == target]  # fmt: skip
        return sorted(found, key=lambda r: r.seq)

    def require_triples(self, triples: Iterable[tuple[str, str, str]]) -> None:
        snap = self.snap

        def held(s: str, rel: str, t: str) -> bool:
            whole = self._complete(s) or self._complete(t)  # every relation of an end is loaded
            return whole or (s, rel) in snap.outs or (s, rel, t) in snap.triples

        missing = [triple for triple in triples if not held(*triple)]
        if missing:
            raise Need(triples=missing)

    def touching(self, entity_id: str) -> list[RelationState]:
        if not self._complete(entity_id):
            raise Need(touching=[entity_id])
        found = [r for r in self.relations.values() if entity_id in (r.source, r.target)]
        return sorted(found, key=lambda r: r.seq)

    def used(self, entity_id: str) -> bool:
        """Whether any relation touches the entity (those not loaded included)."""
        if any(entity_id in (r.source, r.target) for r in self.relations.values()):
            return True
        if self._complete(entity_id):
            return False
        if entity_id not in self.snap.degree:
            raise Need(entities=[entity_id])
        loaded = sum(1 for r in self.snap.relations.values() if entity_id in (r.source, r.target))
        return self.snap.degree[entity_id] > loaded

    def _of_memories(self, memory_ids: Iterable[str]) -> list[MentionState]:
        ids = set(memory_ids)
        missing = ids - self.snap.memories
        if missing:
            raise Need(memories=missing)
        found = [m for ms in self.mentions.values() for m in ms if m.memory_id in ids]
        return sorted(found, key=lambda m: m.seq)

    def _triple(self, relation: RelationState) -> dict[str, str]:
        source, target = self.entities[relation.source], self.entities[relation.target]
        return {"source": source.name, "relationship": relation.relation, "target": target.name}

    # -- the write, as the embedded store's _Writer does it --------------------------------
    def resolve(self, add: Add, name: Name) -> str:
        """The entity this name denotes for the owner, created or merged as needed."""
        found = self.found(add.owner, (name.normal, *(n for _, n in name.aliases)))
        if not found:
            entity_id = new_id()
            self.entities[entity_id] = EntityState(
                entity_id, add.owner, add.user_id, add.agent_id, name.display, name.normal, name.type,
                self.now, self._next(),
            )  # fmt: skip
            self.new.add(entity_id)
        else:
            entity_id = found[0]  # the oldest survives
            for other in found[1:]:
                self.merge(other, entity_id)
            entity = self.entities[entity_id]
            if name.type and entity.type is None:
                entity.type = name.type
        for display, normal in ((name.display, name.normal), *name.aliases):
            key = name_key(add.owner, normal)
            if self.names[key] is None:
                self.names[key] = NameState(add.owner, normal, display, entity_id, self._next())
        return entity_id

    def merge(self, loser: str, survivor: str) -> None:
        """Fold entity ``loser`` into ``survivor``: names, type and edges (no duplicate current edge)."""
        edges = self.touching(loser)

        def moved(end: str) -> str:
            return survivor if end == loser else end

        current = [r for r in edges if r.valid_to is None]
        self.require_triples((moved(r.source), r.relation, moved(r.target)) for r in current)
        for row in self.names.values():
            if row is not None and row.entity_id == loser:
                row.entity_id = survivor
        self.merged[loser] = survivor
        kept = self.entities[survivor]
        if kept.type is None:
            kept.type = self.entities[loser].type
        for edge in edges:
            source, target = moved(edge.source), moved(edge.target)
            dup = None
            if edge.valid_to is None:
                same = self.between(source, edge.relation, target)
                dup = next((r for r in same if r.valid_to is None and r.id != edge.id), None)
            if dup is None:
                edge.source, edge.target = source, target
                continue
            self.fold(edge, dup)
        del self.entities[loser]

    def fold(self, edge: RelationState, into: RelationState) -> None:
        """Fold ``edge`` into ``into``, a current edge of the same source, relation and target:
        its mentions move there and it goes."""
        held = {m.memory_id for m in self.mentions[into.id]}
        for m in sorted(self.mentions.pop(edge.id), key=lambda m: m.seq):
            if m.memory_id not in held:
                held.add(m.memory_id)
                moved = MentionState(into.id, m.memory_id, m.run_id, m.valid_to, self._next())
                self.mentions[into.id].append(moved)
        del self.relations[edge.id]
        into.valid_from = min(into.valid_from, edge.valid_from)

    def add(self, add: Add) -> None:
        first = self.resolve(add, add.source)
        target = self.resolve(add, add.target)
        # Resolving the target may have merged the source into an older entity.
        source = first if first == target else self.lookup(add.owner, add.source.normal) or first
        same = self.between(source, add.relation, target)
        if any(m.memory_id == add.memory_id for r in same for m in self.mentions[r.id]):
            return  # this memory already asserted it: a replay
        current = next((r for r in same if r.valid_to is None), None)
        valid_from = micros(add.valid_from)
        until = None  # when the mention ends: only a late assertion's own edge is born ended
        if current is not None and valid_from < current.valid_from:
            relation_id, until = self.late(add, current, same, valid_from)
        elif current is not None:
            relation_id = current.id
        else:
            relation_id = new_id()
            created = RelationState(
                relation_id, add.user_id, add.agent_id, source, add.relation, target, add.memory_id,
                add.run_id, valid_from, None, None, self.now, self._next(),
            )  # fmt: skip
            self.relations[relation_id] = created
            self.mentions[relation_id] = []
            self.diff.added.append(self._triple(created))
        mention = MentionState(relation_id, add.memory_id, add.run_id, until, self._next())
        self.mentions[relation_id].append(mention)

    def late(
        self, add: Add, current: RelationState, same: list[RelationState], valid_from: int
    ) -> tuple[str, int | None]:
        """Where an assertion goes that says the relation held before its ``current`` edge began
        (told late), and when its mention ends (see :func:`memoryd.graph.writes.late_edge`)."""
        until = None if add.until is None else max(valid_from, micros(add.until))
        found, widen = late_edge([(r.id, r.valid_from, r.valid_to) for r in same], valid_from, until)
        if found is not None:
            if widen:
                self.relations[found].valid_from = valid_from
                return found, None
            return found, joined_end(self.relations[found].valid_to, until)
        relation_id = new_id()  # an interval of its own, ended as its memory ends
        self.relations[relation_id] = RelationState(
            relation_id, add.user_id, add.agent_id, current.source, add.relation, current.target,
            add.memory_id, add.run_id, valid_from, until, ENDED, self.now, self._next(),
        )  # fmt: skip
        self.mentions[relation_id] = []
        self.diff.added.append(self._triple(self.relations[relation_id]))
        return relation_id, until

    def found(self, owner: str, normals: Iterable[str]) -> list[str]:
        """The entities any of these keys of one name denotes for the owner, oldest first."""
        keys = [name_key(owner, n) for n in normals]
        missing = [k for k in keys if k not in self.names]
        if missing:
            raise Need(keys=missing)
        pointed = {row.entity_id for k in keys if (row := self.names[k]) is not None}
        return sorted((e for e in pointed if e in self.entities), key=lambda e: self.entities[e].seq)

    def close(self, close: Close) -> None:
        sources = self.found(close.owner, close.source)
        targets = None if close.target is None else self.found(close.owner, close.target)
        if not sources or targets == []:
            return
        valid_to = micros(close.valid_to)
        if targets is None:
            edges = [e for source in sources for e in self.out(source, close.relation)]
        else:
            edges = [e for s in sources for t in targets for e in self.between(s, close.relation, t)]
        for edge in sorted(edges, key=lambda r: r.seq):
            if edge.valid_to is None and edge.valid_from <= valid_to:
                edge.valid_to, edge.reason = valid_to, close.reason
                self.diff.closed.append(self._triple(edge))

    def end_memories(self, ended: list[tuple[str, float]]) -> None:
        """Mark these memories' assertions as ended; close edges no current memory asserts."""
        mentions = self._of_memories(mid for mid, _ in ended)
        for mid, when in ended:
            for m in mentions:
                if m.memory_id == mid and m.valid_to is None:
                    m.valid_to = micros(when)
        self.settle(list(dict.fromkeys(m.relation_id for m in mentions)))

    def reopen_memories(self, reopened: list[tuple[str, float | None]]) -> None:
        """These memories are current again (or end later): their assertions follow, and so does an
        edge closed because every memory asserting it ended; an edge current again beside a
        current one of the same ends and relation is folded into it."""
        until = {mid: None if end is None else micros(end) for mid, end in reopened}
        mentions = self._of_memories(until)
        for m in mentions:
            if m.valid_to is not None:
                m.valid_to = until[m.memory_id]
        for rid in dict.fromkeys(m.relation_id for m in mentions):
            edge = self.relations.get(rid)
            if edge is None or edge.valid_to is None or edge.reason != ENDED:
                continue
            ends = [m.valid_to for m in self.mentions[rid]]
            if all(end is not None for end in ends):  # still ended, perhaps later
                edge.valid_to = max(edge.valid_from, *(end for end in ends if end is not None))
                continue
            same = self.between(edge.source, edge.relation, edge.target)
            dup = next((r for r in same if r.valid_to is None), None)
            if dup is None:
                edge.valid_to, edge.reason = None, None
                self.diff.added.append(self._triple(edge))
            else:
                self.fold(edge, dup)

    def delete_memories(self, memory_ids: list[str]) -> None:
        """Forget these memories' assertions: edges nobody else asserted go, then orphan entities."""
        mentions = self._of_memories(memory_ids)
        gone = {m.memory_id for m in mentions}
        for rid in dict.fromkeys(m.relation_id for m in mentions):
            self.mentions[rid] = [m for m in self.mentions[rid] if m.memory_id not in gone]
        self.settle(list(dict.fromkeys(m.relation_id for m in mentions)))

    def settle(self, relation_ids: list[str]) -> None:
        """Bring edges in line with their remaining mentions (delete, re-attribute or close)."""
        touched: dict[str, None] = {}
        for rid in relation_ids:
            edge = self.relations.get(rid)
            if edge is None:
                continue
            mentions = sorted(self.mentions[rid], key=lambda m: m.seq)
            if not mentions:
                del self.relations[rid]
                del self.mentions[rid]
                touched[edge.source] = touched[edge.target] = None
                continue
            if mentions[0].memory_id != edge.memory_id:
                edge.memory_id, edge.run_id = mentions[0].memory_id, mentions[0].run_id
            ends = [m.valid_to for m in mentions if m.valid_to is not None]
            if edge.valid_to is None and len(ends) == len(mentions):
                edge.valid_to = max(edge.valid_from, *ends)
                edge.reason = ENDED
                self.diff.closed.append(self._triple(edge))
        missing = [e for e in touched if not self._complete(e) and e not in self.snap.degree]
        if missing:
            raise Need(entities=missing)
        for entity_id in touched:
            if not self.used(entity_id):
                for key, row in self.names.items():
                    if row is not None and row.entity_id == entity_id:
                        self.names[key] = None
                self.dropped.append(entity_id)
                self.entities.pop(entity_id, None)

    # -- what to write back ------------------------------------------------------------------
    def _final(self, entity_id: str) -> str:
        while entity_id in self.merged:
            entity_id = self.merged[entity_id]
        return entity_id

    def delta(self) -> Delta:
        snap = self.snap
        out = Delta(snap.seq, self.seq)
        out.repoint = [(loser, self._final(loser)) for loser in self.merged if loser in snap.entities]
        out.drop_names_of = [e for e in self.dropped if e in snap.entities]
        for key, name in self.names.items():
            was = snap.names.get(key)
            if name != was:  # written again whole: deleted by key, then created
                if was is not None:
                    out.name_deletes.append(key)
                if name is not None:
                    out.names.append(name)
        for entity_id, entity in self.entities.items():
            if entity_id not in snap.entities:
                out.entity_creates.append(entity)
            elif entity != snap.entities[entity_id]:
                out.entity_updates.append(entity)
        out.entity_deletes = [e for e in snap.entities if e not in self.entities]
        for rid, before in snap.relations.items():
            after = self.relations.get(rid)
            if after is None or (after.source, after.target) != (before.source, before.target):
                out.relation_deletes.append(rid)
                if after is not None:
                    out.relation_creates.append(after)
            elif after != before:
                out.relation_updates.append(after)
        out.relation_creates += [r for rid, r in self.relations.items() if rid not in snap.relations]
        held = {m.key: m for ms in snap.mentions.values() for m in ms}
        kept = {m.key: m for ms in self.mentions.values() for m in ms}
        out.mention_deletes = [k for k in held if k not in kept]
        for pair, mention in kept.items():
            if pair not in held:
                out.mention_creates.append(mention)
            elif mention != held[pair]:
                out.mention_updates.append(mention)
        return out
