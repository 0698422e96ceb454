"""The FalkorDB graph as backend-neutral rows: listed for export, written back on import, checked
by ``memoryd check`` (see :mod:`memoryd.storage.sqlite.graph_rows`, the embedded store's twin).

Rows are listed oldest first: the whole graph in the order written (``seq``), a scope by creation
time then order written. A cursor is ``seq``, or ``created_at:seq`` within a scope.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from memoryd.graph.plan import Delta, EntityState, MentionState, NameState, RelationState, micros
from memoryd.models import MemoryRecord, Scope
from memoryd.storage.falkordb.client import GraphClient
from memoryd.storage.falkordb.reads import time_of
from memoryd.storage.portable import EntityRow, MentionRow, Owner, RelationRow

__all__ = ["check", "memory_refs", "restored", "scan_entities", "scan_relations"]

_PAGE = 2000

def _us(value: datetime) -> int:
    return micros(value.timestamp())


def _opt_us(value: datetime | None) -> int | None:
    return None if value is None else _us(value)


def restored(seq: int, entities: Sequence[EntityRow], relations: Sequence[RelationRow]) -> Delta:
    """The rows as they are, numbered after ``seq``, as a write that only creates them (an id or
    name already taken fails it, as does a relation naming an entity the graph does not hold)."""
    out = Delta(seq, seq)

    def number() -> int:
        out.next_seq += 1
        return out.next_seq

    for e in entities:
        owner = json.dumps(list(e.owner))
        created = _us(e.created_at)
        out.entity_creates.append(
            EntityState(e.id, owner, e.user_id, e.agent_id, e.name, e.normal, e.type, created, number())
        )
        out.names += [NameState(owner, normal, name, e.id, number()) for normal, name in e.names]
    for r in relations:
        out.relation_creates.append(
            RelationState(
                r.id, r.user_id, r.agent_id, r.source_id, r.relation, r.target_id, r.memory_id, r.run_id,
                _us(r.valid_from), _opt_us(r.valid_to), r.reason, _us(r.created_at), number(),
            )
        )  # fmt: skip
        out.mention_creates += [
            MentionState(r.id, m.memory_id, m.run_id, _opt_us(m.valid_to), number()) for m in r.mentions
        ]
    return out


def _page(
    scope: Scope, alias: str, after: str | None, limit: int, params: dict[str, Any]
) -> tuple[str, bool]:
    """A WHERE condition for one page of ``alias`` (e or r) rows, and whether it is scoped."""
    parts = []
    for key in ("user_id", "agent_id"):
        value = getattr(scope, key)
        if value is not None:
            parts.append(f"{alias}.{key} = ${key}")
            params[key] = value
    if scope.run_id is not None and scope.user_id is None and scope.agent_id is None:
        # An anonymous session owns a graph of its own (graph.models.owner_of).
        parts.append(f"{alias}.user_id IS NULL AND {alias}.agent_id IS NULL")
        parts.append(f"{alias}.{'owner_run' if alias == 'e' else 'run_id'} = $run_id")
        params["run_id"] = scope.run_id
    params["limit"] = limit
    if not parts:
        params["after"] = int(after or 0)
        return f"{alias}.seq > $after", False
    t, _, s = (after or "").partition(":")
    params["t"], params["s"] = (int(t), int(s)) if t else (None, 0)
    parts.append(f"($t IS NULL OR {alias}.created_at > $t OR ({alias}.created_at = $t AND {alias}.seq > $s))")
    return " AND ".join(parts), True


def _cursor(rows: list[list[Any]], limit: int, scoped: bool, created: int, seq: int) -> str | None:
    if len(rows) < limit:
        return None
    last = rows[-1]
    return f"{last[created]}:{last[seq]}" if scoped else str(last[seq])


async def scan_entities(
    client: GraphClient, scope: Scope, after: str | None, limit: int
) -> tuple[list[EntityRow], str | None]:
    params: dict[str, Any] = {}
    where, scoped = _page(scope, "e", after, limit, params)
    order = "e.created_at, e.seq" if scoped else "e.seq"
    cypher = (
        f"MATCH (e:Entity) WHERE {where} WITH e ORDER BY {order} LIMIT $limit "
        "CALL { WITH e MATCH (n:Name {entity_id: e.id}) RETURN collect([n.seq, n.normal, n.name]) AS names } "
        f"RETURN e.id, e.owner, e.name, e.normal, e.type, e.created_at, e.seq, names ORDER BY {order}"
    )
    rows = await client.query("listing entities", cypher, params)
    out = []
    for eid, owner, name, normal, type_, created, _, names in rows:
        parsed = json.loads(owner)
        key: Owner = (parsed[0], parsed[1], parsed[2])
        kept = tuple((n, d) for _, n, d in sorted(names))
        out.append(EntityRow(eid, key, name, normal, type_, kept, time_of(created)))  # type: ignore[arg-type]
    return out, _cursor(rows, limit, scoped, 5, 6)


async def scan_relations(
    client: GraphClient, scope: Scope, after: str | None, limit: int
) -> tuple[list[RelationRow], str | None]:
    params: dict[str, Any] = {}
    where, scoped = _page(scope, "r", after, limit, params)
    order = "r.created_at, r.seq" if scoped else "r.seq"
    cypher = (
        f"MATCH (s)-[r:RELATES]->(t) WHERE {where} WITH s, r, t ORDER BY {order} LIMIT $limit "
        "CALL { WITH r MATCH (m:Mention {relation_id: r.id}) "
        "RETURN collect([m.seq, m.memory_id, m.run_id, m.valid_to]) AS mentions } "
        "RETURN r.id, r.user_id, r.agent_id, s.id, r.relation, t.id, r.memory_id, r.run_id, r.valid_from, "
        f"r.valid_to, r.reason, r.created_at, r.seq, mentions ORDER BY {order}"
    )
    rows = await client.query("listing relations", cypher, params)
    out = []
    for r in rows:
        ordered = sorted(r[13], key=lambda m: m[0])
        mentions = tuple(MentionRow(mid, run, time_of(end)) for _, mid, run, end in ordered)
        out.append(
            RelationRow(
                r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7],
                time_of(r[8]), time_of(r[9]), r[10], time_of(r[11]),  # type: ignore[arg-type]
                mentions,
            )
        )  # fmt: skip
    return out, _cursor(rows, limit, scoped, 11, 12)


async def memory_refs(client: GraphClient, after: str | None, limit: int) -> list[str]:
    cypher = (
        "MATCH (m:Mention) WHERE m.memory_id > $after "
        "RETURN DISTINCT m.memory_id AS mid ORDER BY mid LIMIT $limit"
    )
    rows = await client.query("listing memory ids", cypher, {"after": after or "", "limit": limit})
    return [row[0] for row in rows]


_CHECKS = (
    (
        "names that point to no entity",
        "MATCH (n:Name) OPTIONAL MATCH (e:Entity {id: n.entity_id}) WITH n, e WHERE e IS NULL "
        "RETURN count(n), min(n.normal)",
    ),
    (
        "entities that cannot be found by their own name",
        "MATCH (e:Entity) OPTIONAL MATCH (n:Name {key: e.owner + '\t' + e.normal}) WITH e, n "
        "WHERE n IS NULL OR n.entity_id <> e.id RETURN count(e), min(e.id)",
    ),
    (
        "relations no memory asserts",
        "MATCH ()-[r:RELATES]->() OPTIONAL MATCH (m:Mention {relation_id: r.id}) WITH r, count(m) AS c "
        "WHERE c = 0 RETURN count(r), min(r.id)",
    ),
    (
        "relations whose memory is not among the memories asserting them",
        "MATCH ()-[r:RELATES]->() OPTIONAL MATCH (m:Mention {relation_id: r.id, memory_id: r.memory_id}) "
        "WITH r, m WHERE m IS NULL RETURN count(r), min(r.id)",
    ),
    (
        "mentions of relations that do not exist",
        "MATCH (m:Mention) OPTIONAL MATCH ()-[r:RELATES {id: m.relation_id}]->() WITH m, r WHERE r IS NULL "
        "RETURN count(m), min(m.memory_id)",
    ),
)

_ASSERTED = (
    "MATCH ()-[r:RELATES]->() WHERE r.seq > $after WITH r ORDER BY r.seq LIMIT $limit "
    "CALL { WITH r MATCH (m:Mention {relation_id: r.id}) RETURN collect(m.memory_id) AS mids } "
    "RETURN r.id, r.seq, mids ORDER BY r.seq"
)


async def check(
    client: GraphClient, held: Callable[[list[str]], Awaitable[dict[str, MemoryRecord]]] | None
) -> list[str]:
    """The embedded store's checks, and (``held``: the record store's ``get_many``) relations that
    only memories the record store does not hold assert: what a write leaves in the graph when
    the process dies between writing FalkorDB and committing SQLite."""
    problems = []
    for what, cypher in _CHECKS:
        [[count, example]] = await client.query("checking the graph", cypher)
        if count:
            problems.append(f"{count} graph {what} (e.g. {example})")
    if held is None:
        return problems
    orphans, example, after = 0, None, 0
    while True:
        rows = await client.query("checking the graph", _ASSERTED, {"after": after, "limit": _PAGE})
        found = await held(list({mid for *_, mids in rows for mid in mids}))
        for rid, _, mids in rows:
            if mids and not any(mid in found for mid in mids):
                orphans += 1
                example = example or rid
        if len(rows) < _PAGE:
            break
        after = rows[-1][1]
    if orphans:
        problems.append(
            f"{orphans} graph relations asserted only by memories the record store does not hold "
            f"(e.g. {example}): written to FalkorDB by a write whose records never committed"
        )
    return problems
