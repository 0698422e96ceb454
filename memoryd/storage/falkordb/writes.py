"""The two queries of a graph write: one loads what the write reads into a
:class:`~memoryd.graph.plan.Snapshot` (more of it when the plan asks), one writes the
:class:`~memoryd.graph.plan.Delta` back, atomically, guarded by the graph's counter.

The layout: ``(:Entity)`` nodes, ``(:Name)`` nodes (every normalised name of an entity, its own
included, by ``key`` = owner and name), ``[:RELATES]`` edges from source to target entity with
the relation's name and validity as properties, and ``(:Mention)`` nodes (which memory asserted
which relation, in which session, until when). One ``(:Meta)`` node holds the graph's owner
(a store id) and ``seq``, the counter every row's ``seq`` comes from.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from memoryd.graph.plan import (
    Delta,
    EntityState,
    MentionState,
    NameState,
    Need,
    RelationState,
    Snapshot,
    name_key,
)
from memoryd.graph.writes import GraphWrite
from memoryd.storage.falkordb.reads import RELATION

__all__ = [
    "DELETABLE",
    "DELETE_ENTITIES",
    "LOAD",
    "WRITE",
    "covers_more",
    "delta_params",
    "first_need",
    "load_params",
    "loaded",
    "need_params",
]

_ENTITY = "[e.id, e.owner, e.user_id, e.agent_id, e.name, e.normal, e.type, e.created_at, e.seq]"

LOAD = f"""
OPTIONAL MATCH (meta:Meta)
WITH meta.seq AS seq
CALL {{
    UNWIND $keys AS k
    MATCH (n:Name {{key: k}})
    RETURN collect([n.owner, n.normal, n.name, n.entity_id, n.seq]) AS names
}}
CALL {{
    UNWIND $named_outs AS o
    MATCH (n:Name {{key: o[0]}})
    RETURN collect([n.entity_id, o[1]]) AS named
}}
CALL {{
    UNWIND $named_triples AS o
    MATCH (a:Name {{key: o[0]}})
    MATCH (b:Name {{key: o[2]}})
    RETURN collect([a.entity_id, o[1], b.entity_id]) AS named_triples
}}
WITH seq, names, named + $outs AS outs, named_triples + $triples AS triples
CALL {{
    WITH outs
    UNWIND outs AS o
    MATCH (:Entity {{id: o[0]}})-[r:RELATES]->()
    WHERE r.relation = o[1]
    RETURN collect(r.id) AS by_out
}}
CALL {{
    WITH triples
    UNWIND triples AS o
    MATCH (:Entity {{id: o[0]}})-[r:RELATES]->(:Entity {{id: o[2]}})
    WHERE r.relation = o[1]
    RETURN collect(r.id) AS by_triple
}}
CALL {{
    UNWIND $touching AS x
    MATCH (:Entity {{id: x}})-[r:RELATES]-()
    RETURN collect(r.id) AS by_entity
}}
CALL {{
    UNWIND $memories AS x
    MATCH (m:Mention {{memory_id: x}})
    RETURN collect(m.relation_id) AS by_memory
}}
WITH seq, names, outs, triples, by_memory, by_out + by_triple + by_entity + by_memory AS ids
CALL {{
    WITH ids
    UNWIND ids AS x
    WITH DISTINCT x
    MATCH (s)-[r:RELATES {{id: x}}]->(t)
    RETURN collect({RELATION}) AS relations
}}
CALL {{
    WITH ids
    UNWIND ids AS x
    WITH DISTINCT x
    MATCH (m:Mention {{relation_id: x}})
    RETURN collect([m.relation_id, m.memory_id, m.run_id, m.valid_to, m.seq]) AS mentions
}}
WITH seq, names, outs, triples, relations, mentions,
     [n IN names | n[3]] + [r IN relations | r[3]] + [r IN relations | r[5]] + $entities + $touching AS eids,
     [r IN relations WHERE r[0] IN by_memory | r[3]] + [r IN relations WHERE r[0] IN by_memory | r[5]]
       + $entities AS counted
CALL {{
    WITH eids, counted
    UNWIND eids AS x
    WITH DISTINCT x, counted
    MATCH (e:Entity {{id: x}})
    RETURN collect({_ENTITY[:-1]},
                   CASE WHEN x IN counted THEN size([(e)-[q:RELATES]-() | 1]) ELSE -1 END]) AS entities
}}
RETURN seq, names, outs, triples, relations, mentions, entities
"""

WRITE = """
MATCH (meta:Meta) WHERE meta.seq = $seq
SET meta.seq = $next, meta.write_token = $token
WITH meta
CALL { UNWIND $repoint AS p MATCH (n:Name {entity_id: p[0]}) SET n.entity_id = p[1] }
CALL { UNWIND $drop_names_of AS x MATCH (n:Name {entity_id: x}) DELETE n }
CALL { UNWIND $name_deletes AS k MATCH (n:Name {key: k}) DELETE n }
CALL {
    UNWIND $names AS row
    CREATE (:Name {key: row.key, owner: row.owner, normal: row.normal, name: row.name,
        entity_id: row.entity_id, seq: row.seq})
}
CALL {
    UNWIND $entity_creates AS row
    CREATE (:Entity {id: row.id, owner: row.owner, owner_run: row.owner_run, user_id: row.user_id,
        agent_id: row.agent_id, name: row.name, normal: row.normal, type: row.type,
        created_at: row.created_at, seq: row.seq})
}
CALL { UNWIND $entity_updates AS row MATCH (e:Entity {id: row.id}) SET e.type = row.type }
CALL { UNWIND $relation_deletes AS x MATCH ()-[r:RELATES {id: x}]->() DELETE r }
CALL {
    UNWIND $relation_creates AS row
    OPTIONAL MATCH (s:Entity {id: row.source})
    OPTIONAL MATCH (t:Entity {id: row.target})
    CREATE (s)-[:RELATES {id: row.id, user_id: row.user_id, agent_id: row.agent_id,
        relation: row.relation, memory_id: row.memory_id, run_id: row.run_id,
        valid_from: row.valid_from, valid_to: row.valid_to, reason: row.reason,
        created_at: row.created_at, seq: row.seq}]->(t)
}
CALL {
    UNWIND $relation_updates AS row
    MATCH ()-[r:RELATES {id: row.id}]->()
    SET r.memory_id = row.memory_id, r.run_id = row.run_id, r.valid_from = row.valid_from,
        r.valid_to = row.valid_to, r.reason = row.reason
}
CALL { UNWIND $entity_deletes AS x MATCH (e:Entity {id: x}) DELETE e }
CALL {
    UNWIND $mention_deletes AS k
    MATCH (m:Mention {relation_id: k[0], memory_id: k[1]})
    DELETE m
}
CALL {
    UNWIND $mention_creates AS row
    CREATE (:Mention {relation_id: row.relation_id, memory_id: row.memory_id, run_id: row.run_id,
        valid_to: row.valid_to, seq: row.seq})
}
CALL {
    UNWIND $mention_updates AS row
    MATCH (m:Mention {relation_id: row.relation_id, memory_id: row.memory_id})
    SET m.run_id = row.run_id, m.valid_to = row.valid_to, m.seq = row.seq
}
RETURN meta.seq
"""

# The entities of ``$ids`` held (``$unused``: only those no relation touches), and the graph's counter.
DELETABLE = """
MATCH (meta:Meta)
CALL {
    UNWIND $ids AS x
    MATCH (e:Entity {id: x})
    WITH e, size([(e)-[q:RELATES]-() | 1]) AS used
    WHERE NOT $unused OR used = 0
    RETURN collect(e.id) AS found
}
RETURN meta.seq, found
"""

# Entities deleted by id with their names, every relation touching them and its mentions, guarded
# by the counter as :data:`WRITE` is.
DELETE_ENTITIES = """
MATCH (meta:Meta) WHERE meta.seq = $seq
SET meta.seq = $seq + 1, meta.write_token = $token
WITH meta
CALL {
    UNWIND $ids AS x
    MATCH (:Entity {id: x})-[r:RELATES]-()
    WITH DISTINCT r.id AS rid
    MATCH (m:Mention {relation_id: rid})
    DELETE m
}
CALL { UNWIND $ids AS x MATCH (n:Name {entity_id: x}) DELETE n }
CALL { UNWIND $ids AS x MATCH (e:Entity {id: x}) DETACH DELETE e }
RETURN meta.seq
"""


def load_params(
    *,
    keys: Sequence[str] = (),
    named_triples: Sequence[Sequence[str]] = (),
    triples: Sequence[Sequence[str]] = (),
    named_outs: Sequence[Sequence[str]] = (),
    outs: Sequence[Sequence[str]] = (),
    touching: Sequence[str] = (),
    entities: Sequence[str] = (),
    memories: Sequence[str] = (),
) -> dict[str, Any]:
    """The parameters of :data:`LOAD`: names by key, relations between the entities two name keys
    denote (``named_triples``: [key, relation, key]) or two entities (``triples``: [id, relation,
    id]), out of the entity a name key denotes (``named_outs``: [key, relation]) or of an entity
    (``outs``: [id, relation]), every relation touching ``touching``, the entities ``entities``,
    every mention of ``memories``."""
    return {
        "keys": list(keys),
        "named_triples": [list(o) for o in named_triples],
        "triples": [list(o) for o in triples],
        "named_outs": [list(o) for o in named_outs],
        "outs": [list(o) for o in outs],
        "touching": list(touching),
        "entities": list(entities),
        "memories": list(memories),
    }


def first_need(write: GraphWrite) -> dict[str, Any]:
    """What a write is sure to read: the names it resolves, the relations it adds (between any
    two entities its names may denote) or closes, and the mentions of the memories it ends,
    reopens or deletes. Anything more (an alias merge) the plan asks for itself."""
    keys: dict[str, None] = {}
    named_triples: dict[tuple[str, str, str], None] = {}
    named_outs: dict[tuple[str, str], None] = {}
    for add in write.adds:
        sources = [name_key(add.owner, n) for n in (add.source.normal, *(n for _, n in add.source.aliases))]
        targets = [name_key(add.owner, n) for n in (add.target.normal, *(n for _, n in add.target.aliases))]
        keys.update(dict.fromkeys([*sources, *targets]))
        named_triples.update(dict.fromkeys((s, add.relation, t) for s in sources for t in targets))
    for close in write.closes:
        sources = [name_key(close.owner, n) for n in close.source]
        keys.update(dict.fromkeys(sources))
        if close.target is None:
            named_outs.update(dict.fromkeys((s, close.relation) for s in sources))
        else:
            targets = [name_key(close.owner, n) for n in close.target]
            keys.update(dict.fromkeys(targets))
            named_triples.update(dict.fromkeys((s, close.relation, t) for s in sources for t in targets))
    ended = [mid for mid, _ in (*write.ended, *write.reopened)]
    memories = dict.fromkeys([*write.deletes, *ended])
    return load_params(keys=list(keys), named_triples=list(named_triples), named_outs=list(named_outs),
                       memories=list(memories))  # fmt: skip


def need_params(need: Need) -> dict[str, Any]:
    return load_params(
        keys=need.keys,
        triples=need.triples,
        outs=need.outs,
        touching=need.touching,
        entities=need.entities,
        memories=need.memories,
    )


def covers_more(snap: Snapshot, need: Need) -> bool:
    """Whether loading ``need`` adds anything to what ``snap`` covers."""
    return bool(
        set(need.keys) - snap.names.keys()
        or set(need.triples) - snap.triples
        or set(need.outs) - snap.outs
        or set(need.touching) - snap.touching
        or set(need.entities) - snap.degree.keys()
        or set(need.memories) - snap.memories
    )


def loaded(snap: Snapshot | None, row: list[Any], params: dict[str, Any]) -> Snapshot:
    """``snap`` (None: a new one) with the rows of one :data:`LOAD` added, and what they cover."""
    seq, names, outs, triples, relations, mentions, entities = row
    if snap is None:
        snap = Snapshot(int(seq or 0))
    keys = set(params["keys"])
    for owner, normal, name, entity_id, n_seq in names:
        snap.names[name_key(owner, normal)] = NameState(owner, normal, name, entity_id, n_seq)
    for key in keys:
        snap.names.setdefault(key, None)
    for values in relations:
        relation = RelationState(*values)
        snap.relations[relation.id] = relation
        snap.mentions[relation.id] = []
    for relation_id, memory_id, run_id, valid_to, m_seq in mentions:
        if relation_id in snap.mentions:
            snap.mentions[relation_id].append(MentionState(relation_id, memory_id, run_id, valid_to, m_seq))
    for values in entities:
        entity = EntityState(*values[:-1])
        snap.entities[entity.id] = entity
        if values[-1] >= 0:  # counted only where a delete or an end may leave the entity unused
            snap.degree[entity.id] = int(values[-1])
    for entity_id in params["entities"]:
        snap.degree.setdefault(entity_id, 0)  # not in the graph: nothing touches it
    snap.outs.update((str(e), str(r)) for e, r in outs)
    snap.triples.update((str(s), str(r), str(t)) for s, r, t in triples)
    snap.touching.update(params["touching"])
    snap.memories.update(params["memories"])
    return snap


def _owner_run(owner: str) -> str | None:
    """The session that owns an entity (a scope with neither user nor agent), else None."""
    parts = json.loads(owner)
    return parts[2] if isinstance(parts, list) and len(parts) == 3 else None


def delta_params(delta: Delta) -> dict[str, Any]:
    """The parameters of :data:`WRITE`: every write moves the graph's counter (a delete or an end
    too, which create no row: else a writer holding an older read passes the guard), and leaves
    a token of its own, by which a write whose answer was lost is known to have landed."""
    return {
        "seq": delta.seq,
        "next": max(delta.next_seq, delta.seq + 1),
        "token": uuid.uuid4().hex,
        "repoint": [list(p) for p in delta.repoint],
        "drop_names_of": delta.drop_names_of,
        "name_deletes": delta.name_deletes,
        "names": [{**asdict(n), "key": n.key} for n in delta.names],
        "entity_creates": [{**asdict(e), "owner_run": _owner_run(e.owner)} for e in delta.entity_creates],
        "entity_updates": [{"id": e.id, "type": e.type} for e in delta.entity_updates],
        "entity_deletes": delta.entity_deletes,
        "relation_deletes": delta.relation_deletes,
        "relation_creates": [asdict(r) for r in delta.relation_creates],
        "relation_updates": [asdict(r) for r in delta.relation_updates],
        "mention_deletes": [list(k) for k in delta.mention_deletes],
        "mention_creates": [asdict(m) for m in delta.mention_creates],
        "mention_updates": [asdict(m) for m in delta.mention_updates],
    }
