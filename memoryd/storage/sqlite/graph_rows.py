"""The embedded graph's tables as backend-neutral rows: listed for export, written back on import,
checked by ``memoryd check``.

These run on the database's connections (reads on a reader thread, :func:`restore`
on the writer inside the caller's unit of work); :class:`~memoryd.storage.sqlite.graph.
SQLiteGraphStore` calls them. Rows are listed oldest first: the whole store in
the order written, a scope by creation time then order written (the scope's index).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from memoryd.models import Scope, from_epoch
from memoryd.storage.portable import EntityRow, MentionRow, Owner, RelationRow
from memoryd.storage.sqlite.database import broken_rules

__all__ = ["check", "delete_entities", "memory_refs", "restore", "scan_entities", "scan_relations"]

_CHUNK = 500


def _ts(value: Any) -> float | None:
    return None if value is None else value.timestamp()


def _scope_sql(scope: Scope, table: str) -> tuple[list[str], list[Any]]:
    parts: list[str] = []
    params: list[Any] = []
    for field, value in (("user_id", scope.user_id), ("agent_id", scope.agent_id)):
        if value is not None:
            parts.append(f"{table}.{field} = ?")
            params.append(value)
    if scope.run_id is not None and scope.user_id is None and scope.agent_id is None:
        # An anonymous session owns a graph of its own (graph.models.owner_of).
        parts.append(f"{table}.user_id IS NULL AND {table}.agent_id IS NULL")
        if table == "e":
            parts.append("json_extract(e.owner, '$[2]') = ?")
        else:
            parts.append("r.run_id = ?")
        params.append(scope.run_id)
    return parts, params


def _page(
    conn: sqlite3.Connection, table: str, alias: str, cols: str, scope: Scope, after: str | None, limit: int
) -> tuple[list[tuple[Any, ...]], str | None]:
    """A page of ``table``'s rows (rowid first, then ``cols``) and the cursor after it."""
    parts, params = _scope_sql(scope, alias)
    if not parts:
        sql = (
            f"SELECT {alias}.rowid, {cols} FROM {table} {alias} WHERE {alias}.rowid > ? "
            f"ORDER BY {alias}.rowid LIMIT ?"
        )
        params = [int(after or 0), limit]
    else:
        t, _, r = (after or "").partition(":")
        where = " AND ".join(parts)
        sql = (
            f"SELECT {alias}.rowid, {cols} FROM {table} {alias} WHERE {where} AND "
            f"({alias}.created_at, {alias}.rowid) > (?, ?) ORDER BY {alias}.created_at, {alias}.rowid LIMIT ?"
        )
        params += [float(t) if t else float("-inf"), int(r or 0), limit]
    rows = conn.execute(sql, params).fetchall()
    if len(rows) < limit:
        return rows, None
    last = rows[-1]
    return rows, (str(last[0]) if not parts else f"{last[-1]!r}:{last[0]}")


def scan_entities(
    conn: sqlite3.Connection, scope: Scope, after: str | None, limit: int
) -> tuple[list[EntityRow], str | None]:
    rows, cursor = _page(conn, "graph_entities", "e", "e.id, e.owner, e.name, e.normal, e.type, e.created_at",
                         scope, after, limit)  # fmt: skip
    names: dict[str, list[tuple[str, str]]] = {}
    ids = [r[1] for r in rows]
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for entity_id, normal, name in conn.execute(
            "SELECT entity_id, normal, name FROM graph_names "
            f"WHERE entity_id IN ({','.join('?' * len(chunk))}) ORDER BY rowid",
            chunk,
        ):
            names.setdefault(entity_id, []).append((normal, name))
    out = []
    for _, eid, owner, name, normal, type_, created in rows:
        parsed = json.loads(owner)
        key: Owner = (parsed[0], parsed[1], parsed[2])
        out.append(EntityRow(eid, key, name, normal, type_, tuple(names.get(eid, [])), from_epoch(created)))  # type: ignore[arg-type]
    return out, cursor


def scan_relations(
    conn: sqlite3.Connection, scope: Scope, after: str | None, limit: int
) -> tuple[list[RelationRow], str | None]:
    cols = (
        "r.id, r.user_id, r.agent_id, r.source_id, r.relation, r.target_id, r.memory_id, r.run_id, "
        "r.valid_from, r.valid_to, r.reason, r.created_at"
    )
    rows, cursor = _page(conn, "graph_relations", "r", cols, scope, after, limit)
    mentions: dict[str, list[MentionRow]] = {}
    ids = [r[1] for r in rows]
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for rid, memory_id, run_id, valid_to in conn.execute(
            "SELECT relation_id, memory_id, run_id, valid_to FROM graph_mentions "
            f"WHERE relation_id IN ({','.join('?' * len(chunk))}) ORDER BY rowid",
            chunk,
        ):
            mentions.setdefault(rid, []).append(MentionRow(memory_id, run_id, from_epoch(valid_to)))
    out = [
        RelationRow(
            r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
            from_epoch(r[9]), from_epoch(r[10]), r[11], from_epoch(r[12]),  # type: ignore[arg-type]
            tuple(mentions.get(r[1], [])),
        )  # fmt: skip
        for r in rows
    ]
    return out, cursor


def restore(
    conn: sqlite3.Connection, entities: Sequence[EntityRow], relations: Sequence[RelationRow]
) -> None:
    """Insert the rows as they are (the writer's connection); a taken id or name raises."""
    for e in entities:
        owner = json.dumps(list(e.owner))
        conn.execute(
            "INSERT INTO graph_entities (id, owner, user_id, agent_id, name, normal, type, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (e.id, owner, e.user_id, e.agent_id, e.name, e.normal, e.type, e.created_at.timestamp()),
        )
        conn.executemany(
            "INSERT INTO graph_names (owner, normal, name, entity_id) VALUES (?, ?, ?, ?)",
            [(owner, normal, name, e.id) for normal, name in e.names],
        )
    for r in relations:
        conn.execute(
            "INSERT INTO graph_relations (id, user_id, agent_id, source_id, relation, target_id, memory_id, "
            "run_id, valid_from, valid_to, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.id, r.user_id, r.agent_id, r.source_id, r.relation, r.target_id, r.memory_id, r.run_id,
                r.valid_from.timestamp(), _ts(r.valid_to), r.reason, r.created_at.timestamp(),
            ),
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO graph_mentions (relation_id, memory_id, run_id, valid_to) VALUES (?, ?, ?, ?)",
            [(r.id, m.memory_id, m.run_id, _ts(m.valid_to)) for m in r.mentions],
        )


def delete_entities(conn: sqlite3.Connection, ids: Sequence[str], unused_only: bool) -> int:
    """Delete these entities with their names, the relations touching them and those relations'
    mentions (``unused_only``: only entities no relation touches); how many entities went."""
    gone = 0
    unused = (
        " AND NOT EXISTS (SELECT 1 FROM graph_relations r WHERE r.source_id = e.id OR r.target_id = e.id)"
        if unused_only else ""
    )  # fmt: skip
    for start in range(0, len(ids), _CHUNK):
        asked = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(asked))
        held = conn.execute(f"SELECT e.id FROM graph_entities e WHERE e.id IN ({marks}){unused}", asked)
        chunk = [r[0] for r in held]
        if not chunk:
            continue
        marks = ",".join("?" * len(chunk))
        edges = f"SELECT id FROM graph_relations WHERE source_id IN ({marks}) OR target_id IN ({marks})"
        conn.execute(f"DELETE FROM graph_mentions WHERE relation_id IN ({edges})", [*chunk, *chunk])
        conn.execute(f"DELETE FROM graph_relations WHERE id IN ({edges})", [*chunk, *chunk])
        conn.execute(f"DELETE FROM graph_names WHERE entity_id IN ({marks})", chunk)
        gone += conn.execute(f"DELETE FROM graph_entities WHERE id IN ({marks})", chunk).rowcount
    return gone


def memory_refs(conn: sqlite3.Connection, after: str | None, limit: int) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT memory_id FROM graph_mentions WHERE memory_id > ? ORDER BY memory_id LIMIT ?",
            (after or "", limit),
        )
    ]


_CHECKS = (
    (
        "names that point to no entity",
        "SELECT count(*), min(n.normal) FROM graph_names n WHERE NOT EXISTS "
        "(SELECT 1 FROM graph_entities e WHERE e.id = n.entity_id)",
    ),
    (
        "entities that cannot be found by their own name",
        "SELECT count(*), min(e.id) FROM graph_entities e WHERE NOT EXISTS "
        "(SELECT 1 FROM graph_names n WHERE n.entity_id = e.id AND n.normal = e.normal)",
    ),
    (
        "relations whose source or target entity does not exist",
        "SELECT count(*), min(r.id) FROM graph_relations r WHERE NOT EXISTS "
        "(SELECT 1 FROM graph_entities e WHERE e.id = r.source_id) OR NOT EXISTS "
        "(SELECT 1 FROM graph_entities e WHERE e.id = r.target_id)",
    ),
    (
        "relations no memory asserts",
        "SELECT count(*), min(r.id) FROM graph_relations r WHERE NOT EXISTS "
        "(SELECT 1 FROM graph_mentions m WHERE m.relation_id = r.id)",
    ),
    (
        "relations whose memory is not among the memories asserting them",
        "SELECT count(*), min(r.id) FROM graph_relations r WHERE NOT EXISTS "
        "(SELECT 1 FROM graph_mentions m WHERE m.relation_id = r.id AND m.memory_id = r.memory_id)",
    ),
    (
        "mentions of relations that do not exist",
        "SELECT count(*), min(m.memory_id) FROM graph_mentions m WHERE NOT EXISTS "
        "(SELECT 1 FROM graph_relations r WHERE r.id = m.relation_id)",
    ),
)


def check(conn: sqlite3.Connection) -> list[str]:
    return broken_rules(conn, _CHECKS, "graph")
