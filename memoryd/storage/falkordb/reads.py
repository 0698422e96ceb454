"""The graph store's reads in FalkorDB: entities, neighbours and pages of relations, with the
embedded store's semantics (scopes, runs, validity, ordering; see
:class:`~memoryd.storage.base.GraphStore`).

Each read finds ids and order with one query, then loads what it returns (relations, their
entities with every alias, their mentions) with :data:`DETAILS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from memoryd.graph.models import Entity, Relation, joins_namesakes, with_namesakes
from memoryd.graph.normalise import name_keys
from memoryd.graph.plan import micros
from memoryd.models import Scope, from_epoch
from memoryd.storage.falkordb.client import GraphClient

__all__ = ["RELATION", "details", "entities", "neighbours", "relation_filter", "relations", "time_of"]

# A relation's columns, ``s`` and ``t`` its ends. Patterns that find edges by an edge property put
# no label on the ends, ``(s)-[r:RELATES {id: x}]->(t)``: with ``(s:Entity)`` FalkorDB 4.16 scans
# every entity and looks the edge up once for each (a write on a 2,000-relation graph took minutes).
RELATION = (
    "[r.id, r.user_id, r.agent_id, s.id, r.relation, t.id, r.memory_id, r.run_id, r.valid_from, "
    "r.valid_to, r.reason, r.created_at, r.seq]"
)
_RUN_RELATIONS = (
    "CALL { MATCH (m:Mention {run_id: $run_id}) RETURN collect(DISTINCT m.relation_id) AS run_rels }"
)
_RUN_ENTITIES = (
    "CALL { MATCH (m:Mention {run_id: $run_id}) WITH collect(DISTINCT m.relation_id) AS ids UNWIND ids AS y "
    "MATCH (s)-[r:RELATES {id: y}]->(t) UNWIND [s.id, t.id] AS x RETURN collect(DISTINCT x) AS run_entities }"
)
DETAILS = f"""
CALL {{
    UNWIND $relations AS x
    MATCH (s)-[r:RELATES {{id: x}}]->(t)
    RETURN collect({RELATION}) AS rels
}}
WITH rels, [r IN rels | r[3]] + [r IN rels | r[5]] + $entities AS eids
CALL {{
    WITH eids
    UNWIND eids AS x
    WITH DISTINCT x
    MATCH (e:Entity {{id: x}})
    RETURN collect([e.id, e.name, e.normal, e.type, e.user_id, e.agent_id, e.created_at]) AS ents
}}
CALL {{
    WITH eids
    UNWIND eids AS x
    WITH DISTINCT x
    MATCH (n:Name {{entity_id: x}})
    RETURN collect([n.entity_id, n.normal, n.name, n.seq]) AS names
}}
CALL {{
    UNWIND $relations AS x
    MATCH (m:Mention {{relation_id: x}})
    RETURN collect([m.relation_id, m.memory_id, m.seq]) AS mentions
}}
RETURN rels, ents, names, mentions
"""


def time_of(micros: int | None) -> datetime | None:
    """A stored time (whole microseconds since the epoch)."""
    return None if micros is None else from_epoch(micros / 1_000_000)


def _owner_filter(scope: Scope, alias: str, params: dict[str, Any]) -> list[str]:
    """Whose nodes or edges ``scope`` reads (its run aside): naming a user and an agent, the user's
    shared graph (no agent) and that agent's own, never another agent's; otherwise the user's (every
    agent's) or the agent's. As the embedded store reads them."""
    if scope.user_id is not None and scope.agent_id is not None:
        params.update(user_id=scope.user_id, agent_id=scope.agent_id)
        return [f"{alias}.user_id = $user_id", f"({alias}.agent_id = $agent_id OR {alias}.agent_id IS NULL)"]
    parts = []
    for key, value in scope.items():
        if key != "run_id":
            parts.append(f"{alias}.{key} = ${key}")
            params[key] = value
    return parts


def relation_filter(
    scope: Scope, as_of: datetime | None, include_expired: bool, params: dict[str, Any]
) -> tuple[str, str]:
    """(a clause to run first, a WHERE condition on ``r``) for the scope's relations then."""
    parts = _owner_filter(scope, "r", params)
    first = ""
    if scope.run_id is not None:
        first = _RUN_RELATIONS
        params["run_id"] = scope.run_id
        parts.append("r.id IN run_rels")
    if as_of is not None:
        params["at"] = micros(as_of.timestamp())
        parts.append("r.valid_from <= $at AND (r.valid_to IS NULL OR r.valid_to > $at)")
    elif not include_expired:
        parts.append("r.valid_to IS NULL")
    return first, " AND ".join(parts) or "true"


async def details(
    client: GraphClient, relation_ids: Sequence[str], entity_ids: Sequence[str] = ()
) -> tuple[list[Relation], dict[str, Entity]]:
    """The relations (in the order given) and entities with these ids, as the models."""
    params = {"relations": list(relation_ids), "entities": list(entity_ids)}
    [[rels, ents, names, mentions]] = await client.query("reading relations", DETAILS, params)
    aliases: dict[str, list[tuple[int, str, str]]] = {}
    for entity_id, normal, name, seq in names:
        aliases.setdefault(entity_id, []).append((seq, normal, name))
    found: dict[str, Entity] = {}
    for eid, name, normal, type_, user_id, agent_id, created in ents:
        # An older release's key of the name itself (see name_keys) is no alias
        named = sorted(aliases.get(eid, []))
        others = tuple(dict.fromkeys(a for _, n, a in named if n != normal and a != name))
        found[eid] = Entity(eid, name, normal, type_, others, user_id, agent_id, time_of(created))  # type: ignore[arg-type]
    said: dict[str, list[tuple[int, str]]] = {}
    for rid, memory_id, seq in mentions:
        said.setdefault(rid, []).append((seq, memory_id))
    by_id = {r[0]: r for r in rels}
    out = []
    for rid in relation_ids:
        if rid not in by_id:
            continue  # gone since the ids were read
        _, _, _, src, relation, tgt, memory_id, run_id, valid_from, valid_to, reason, created, _ = by_id[rid]
        memory_ids = tuple(m for _, m in sorted(said.get(rid, []))) or (memory_id,)
        out.append(
            Relation(
                id=rid, source=found[src], relation=relation, target=found[tgt], memory_id=memory_id,
                memory_ids=memory_ids, run_id=run_id, valid_from=time_of(valid_from),  # type: ignore[arg-type]
                valid_to=time_of(valid_to), reason=reason, created_at=time_of(created),  # type: ignore[arg-type]
            )
        )  # fmt: skip
    return out, found


async def entities(
    client: GraphClient, scope: Scope, names: Sequence[str] | None, limit: int
) -> list[Entity]:
    params: dict[str, Any] = {"limit": limit}
    parts = _owner_filter(scope, "e", params)
    clauses = []
    if scope.run_id is not None:
        clauses.append(_RUN_ENTITIES)
        params["run_id"] = scope.run_id
    if names is not None:
        normals = list(name_keys(names))
        if not normals:
            return []
        params["normals"] = normals
        clauses.append(
            "CALL { UNWIND $normals AS nm MATCH (n:Name {normal: nm}) "
            "RETURN collect(DISTINCT n.entity_id) AS named }"
        )
        clauses.append("UNWIND named AS x MATCH (e:Entity {id: x})")
        if scope.run_id is not None:
            parts.append("e.id IN run_entities")
    elif scope.run_id is not None:
        clauses.append("UNWIND run_entities AS x MATCH (e:Entity {id: x})")
    else:
        clauses.append("MATCH (e:Entity)")
    where = f" WHERE {' AND '.join(parts)}" if parts else ""
    cypher = f"{' '.join(clauses)}{where} RETURN e.id ORDER BY e.created_at, e.seq LIMIT $limit"
    ids = [row[0] for row in await client.query("reading entities", cypher, params)]
    _, found = await details(client, [], ids)
    return [found[i] for i in ids if i in found]


async def relations(
    client: GraphClient, scope: Scope, limit: int, offset: int, as_of: datetime | None, include_expired: bool
) -> list[Relation]:
    params: dict[str, Any] = {"limit": limit, "offset": max(offset, 0)}
    first, where = relation_filter(scope, as_of, include_expired, params)
    cypher = (
        f"{first} MATCH (s)-[r:RELATES]->(t) WHERE {where} "
        "RETURN r.id ORDER BY r.created_at DESC, r.seq DESC SKIP $offset LIMIT $limit"
    )
    ids = [row[0] for row in await client.query("reading relations", cypher, params)]
    found, _ = await details(client, ids)
    return found


async def _around(
    client: GraphClient, ids: list[str], skip: list[str], cap: int, scope: Scope, as_of: datetime | None,
    include_expired: bool,
) -> list[tuple[str, str, str]]:
    """Up to ``cap`` relations touching ``ids``, newest first, shared out in turns: each entity's
    newest, then each one's next newest, ... (earlier ``ids`` first within a turn), so one entity
    with many relations cannot crowd out the others. (id, source, target) each."""
    params: dict[str, Any] = {"ids": ids, "skip": skip, "cap": cap}
    first, where = relation_filter(scope, as_of, include_expired, params)
    # Each direction on its own: FalkorDB 4.16 finds only outgoing edges when an undirected
    # pattern's edge is filtered on an indexed property (user_id).
    where = f"{where} AND NOT r.id IN $skip"
    known = "e, run_rels" if first else "e"
    cypher = (
        f"{first} UNWIND range(0, size($ids) - 1) AS i MATCH (e:Entity {{id: $ids[i]}}) "
        f"CALL {{ WITH {known} MATCH (e)-[r:RELATES]->() WHERE {where} RETURN r "
        f"UNION WITH {known} MATCH (e)<-[r:RELATES]-() WHERE {where} RETURN r }} "
        "WITH i, r ORDER BY r.valid_from DESC, r.seq DESC "
        "WITH i, collect([r.id, r.valid_from, r.seq, startNode(r).id, endNode(r).id])[..$cap] AS found "
        "RETURN i, found"
    )  # fmt: skip
    turn: dict[str, int] = {}
    rows: dict[str, tuple[int, int, str, str]] = {}
    for i, found in await client.query("reading neighbours", cypher, params):
        for j, (rid, valid_from, seq, source, target) in enumerate(found, start=1):
            turn[rid] = min(turn.get(rid, i + len(ids) * j), i + len(ids) * j)
            rows[rid] = (valid_from, seq, source, target)
    picked = sorted(turn, key=turn.__getitem__)[:cap]
    picked.sort(key=lambda rid: (rows[rid][0], rows[rid][1]), reverse=True)
    return [(rid, rows[rid][2], rows[rid][3]) for rid in picked]


async def _namesakes(client: GraphClient, scope: Scope, ids: list[str]) -> list[str]:
    """``ids``, each followed by the entities of the other graph of an agent's view that share a name
    key with it (see :func:`~memoryd.graph.models.joins_namesakes`), as the embedded store finds them."""
    if not ids or not joins_namesakes(scope):
        return ids
    params: dict[str, Any] = {"ids": ids}
    where = " AND ".join(_owner_filter(scope, "e", params))
    cypher = (
        "UNWIND $ids AS x MATCH (n:Name {entity_id: x}) MATCH (o:Name {normal: n.normal}) "
        "WHERE o.entity_id <> x MATCH (e:Entity {id: o.entity_id}) "
        f"WHERE {where} RETURN DISTINCT x, e.id, e.created_at, e.seq ORDER BY e.created_at, e.seq"
    )
    pairs = await client.query("reading neighbours", cypher, params)
    return with_namesakes(ids, ((eid, other) for eid, other, _, _ in pairs))


async def neighbours(
    client: GraphClient, scope: Scope, names: Sequence[str], hops: int, limit: int, as_of: datetime | None,
    include_expired: bool,
) -> list[Relation]:
    position = name_keys(names)  # each name's keys, older ones too, by the name's place
    normals = list(position)
    if not normals or limit <= 0:
        return []
    params: dict[str, Any] = {"normals": normals}
    where = " AND ".join(_owner_filter(scope, "e", params)) or "true"
    cypher = (
        "UNWIND $normals AS nm MATCH (n:Name {normal: nm}) MATCH (e:Entity {id: n.entity_id}) "
        f"WHERE {where} RETURN e.id, n.normal ORDER BY e.created_at, e.seq"
    )
    # The start entities in the order of the names that found them, those one name finds (the
    # user's own and the user's agent's) in creation order, as :func:`entities` lists.
    first: dict[str, int] = {}
    for entity_id, normal in await client.query("reading neighbours", cypher, params):
        first[entity_id] = min(first.get(entity_id, len(normals)), position[normal])
    if not first:
        return []
    start = await _namesakes(client, scope, sorted(first, key=first.__getitem__))
    rows = await _around(client, start, [], limit, scope, as_of, include_expired)
    if hops == 2 and len(rows) < limit:
        seen = set(start)
        frontier = list(dict.fromkeys(e for r in rows for e in (r[1], r[2]) if e not in seen))
        frontier = [e for e in await _namesakes(client, scope, frontier) if e not in seen]
        if frontier:
            rows += await _around(
                client, frontier, [r[0] for r in rows], limit - len(rows), scope, as_of, include_expired
            )
    found, _ = await details(client, [r[0] for r in rows])
    return found
