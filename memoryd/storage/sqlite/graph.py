"""The embedded graph store: entities and relations in tables of the shared SQLite file.

Four tables: ``graph_entities`` (nodes, per owner), ``graph_names`` (every
normalised name of a node — its own and its aliases — unique per owner, so a
name resolves to one node), ``graph_relations`` (edges with a validity
interval; at most one *current* edge per source, relation and target) and
``graph_mentions`` (which memories asserted an edge, in which session, and
whether that memory is still current).

Writes run on the database's writer thread inside the caller's unit of work,
so a relation lands with the memory that asserted it or not at all. Reads are
plain indexed queries on the reader threads; there is nothing to cache.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from memoryd.graph.models import Entity, GraphDiff, Relation, check_hops, joins_namesakes, with_namesakes
from memoryd.graph.normalise import name_keys
from memoryd.graph.writes import ENDED, Add, Close, Name, graph_write, joined_end, late_edge
from memoryd.models import Scope, from_epoch, new_id, utcnow
from memoryd.storage.base import ChangeSet
from memoryd.storage.portable import EntityRow, RelationRow
from memoryd.storage.resources import Resources
from memoryd.storage.sqlite import graph_rows
from memoryd.storage.sqlite.database import SQLiteDatabase, execute_script
from memoryd.storage.sqlite.records import validity_sql

__all__ = ["SQLiteGraphStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS graph_entities (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    user_id TEXT, agent_id TEXT,
    name TEXT NOT NULL,
    normal TEXT NOT NULL,
    type TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS graph_entities_user ON graph_entities(user_id);
CREATE INDEX IF NOT EXISTS graph_entities_agent ON graph_entities(agent_id);
CREATE TABLE IF NOT EXISTS graph_names (
    rowid INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    normal TEXT NOT NULL,
    name TEXT NOT NULL,
    entity_id TEXT NOT NULL REFERENCES graph_entities(id),
    UNIQUE (owner, normal)
);
CREATE INDEX IF NOT EXISTS graph_names_normal ON graph_names(normal);
CREATE INDEX IF NOT EXISTS graph_names_entity ON graph_names(entity_id);
CREATE TABLE IF NOT EXISTS graph_relations (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT, agent_id TEXT,
    source_id TEXT NOT NULL REFERENCES graph_entities(id),
    relation TEXT NOT NULL,
    target_id TEXT NOT NULL REFERENCES graph_entities(id),
    memory_id TEXT NOT NULL,
    run_id TEXT,
    valid_from REAL NOT NULL,
    valid_to REAL,
    reason TEXT,
    created_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS graph_relations_current
    ON graph_relations(source_id, relation, target_id) WHERE valid_to IS NULL;
CREATE INDEX IF NOT EXISTS graph_relations_source ON graph_relations(source_id);
CREATE INDEX IF NOT EXISTS graph_relations_target ON graph_relations(target_id);
CREATE INDEX IF NOT EXISTS graph_relations_user ON graph_relations(user_id, created_at);
CREATE INDEX IF NOT EXISTS graph_relations_agent ON graph_relations(agent_id, created_at);
CREATE TABLE IF NOT EXISTS graph_mentions (
    rowid INTEGER PRIMARY KEY,
    relation_id TEXT NOT NULL REFERENCES graph_relations(id),
    memory_id TEXT NOT NULL,
    run_id TEXT,
    valid_to REAL,
    UNIQUE (relation_id, memory_id)
);
CREATE INDEX IF NOT EXISTS graph_mentions_memory ON graph_mentions(memory_id);
CREATE INDEX IF NOT EXISTS graph_mentions_run ON graph_mentions(run_id);
"""

_REL_COLS = (
    "r.id, r.source_id, r.relation, r.target_id, r.memory_id, r.run_id, r.valid_from, r.valid_to, "
    "r.reason, r.created_at"
)
_CHUNK = 500


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


# -- writes (writer thread) ------------------------------------------------------
class _Writer:
    """One graph write on the writer's connection; collects the diff as it goes."""

    def __init__(self, conn: sqlite3.Connection, now: float) -> None:
        self.conn = conn
        self.now = now
        self.diff = GraphDiff()

    def _triple(self, source_id: str, relation: str, target_id: str) -> dict[str, str]:
        names = dict(
            self.conn.execute(
                "SELECT id, name FROM graph_entities WHERE id IN (?, ?)", (source_id, target_id)
            ).fetchall()
        )
        return {"source": names[source_id], "relationship": relation, "target": names[target_id]}

    def lookup(self, owner: str, normal: str) -> str | None:
        row = self.conn.execute(
            "SELECT entity_id FROM graph_names WHERE owner = ? AND normal = ?", (owner, normal)
        ).fetchone()
        return None if row is None else str(row[0])

    def resolve(self, add: Add, name: Name) -> str:
        """The entity this name denotes for the owner, created or merged as needed."""
        found = self.found(add.owner, [name.normal, *(n for _, n in name.aliases)])
        if not found:
            entity_id = new_id()
            self.conn.execute(
                "INSERT INTO graph_entities (id, owner, user_id, agent_id, name, normal, type, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entity_id,
                    add.owner,
                    add.user_id,
                    add.agent_id,
                    name.display,
                    name.normal,
                    name.type,
                    self.now,
                ),
            )
        else:
            entity_id = found[0]  # the oldest survives
            for other in found[1:]:
                self.merge(other, entity_id)
            if name.type:
                self.conn.execute(
                    "UPDATE graph_entities SET type = ? WHERE id = ? AND type IS NULL", (name.type, entity_id)
                )
        self.conn.executemany(
            "INSERT OR IGNORE INTO graph_names (owner, normal, name, entity_id) VALUES (?, ?, ?, ?)",
            [(add.owner, n, d, entity_id) for d, n in ((name.display, name.normal), *name.aliases)],
        )
        return entity_id

    def merge(self, loser: str, survivor: str) -> None:
        """Fold entity ``loser`` into ``survivor``: names, type and edges (no duplicate current edge)."""
        conn = self.conn
        conn.execute("UPDATE graph_names SET entity_id = ? WHERE entity_id = ?", (survivor, loser))
        conn.execute(
            "UPDATE graph_entities SET type = coalesce(type, (SELECT type FROM graph_entities WHERE id = ?)) "
            "WHERE id = ?",
            (loser, survivor),
        )
        edges = conn.execute(
            "SELECT id, source_id, relation, target_id, valid_from, valid_to FROM graph_relations "
            "WHERE source_id = ? OR target_id = ? ORDER BY rowid",
            (loser, loser),
        ).fetchall()
        for rid, src, relation, tgt, valid_from, valid_to in edges:
            src = survivor if src == loser else src
            tgt = survivor if tgt == loser else tgt
            dup = None
            if valid_to is None:
                dup = conn.execute(
                    "SELECT id FROM graph_relations WHERE source_id = ? AND relation = ? AND target_id = ? "
                    "AND valid_to IS NULL AND id != ?",
                    (src, relation, tgt, rid),
                ).fetchone()
            if dup is None:
                conn.execute(
                    "UPDATE graph_relations SET source_id = ?, target_id = ? WHERE id = ?", (src, tgt, rid)
                )
                continue
            self.fold(rid, dup[0], valid_from)
        conn.execute("DELETE FROM graph_entities WHERE id = ?", (loser,))

    def fold(self, rid: str, into: str, valid_from: float) -> None:
        """Fold edge ``rid`` (from ``valid_from``) into ``into``, a current edge of the same source,
        relation and target: its mentions move there and it goes."""
        conn = self.conn
        conn.execute(
            "INSERT OR IGNORE INTO graph_mentions (relation_id, memory_id, run_id, valid_to) "
            "SELECT ?, memory_id, run_id, valid_to FROM graph_mentions WHERE relation_id = ? "
            "ORDER BY rowid",
            (into, rid),
        )
        conn.execute("DELETE FROM graph_mentions WHERE relation_id = ?", (rid,))
        conn.execute("DELETE FROM graph_relations WHERE id = ?", (rid,))
        conn.execute(
            "UPDATE graph_relations SET valid_from = min(valid_from, ?) WHERE id = ?", (valid_from, into)
        )

    def add(self, add: Add) -> None:
        conn = self.conn
        first = self.resolve(add, add.source)
        target = self.resolve(add, add.target)
        # Resolving the target may have merged the source into an older entity.
        source = first if first == target else self.lookup(add.owner, add.source.normal) or first
        key = (source, add.relation, target)
        seen = conn.execute(
            "SELECT 1 FROM graph_mentions m JOIN graph_relations r ON r.id = m.relation_id "
            "WHERE r.source_id = ? AND r.relation = ? AND r.target_id = ? AND m.memory_id = ?",
            (*key, add.memory_id),
        ).fetchone()
        if seen is not None:
            return  # this memory already asserted it: a replay
        current = conn.execute(
            "SELECT id, valid_from FROM graph_relations WHERE source_id = ? AND relation = ? "
            "AND target_id = ? AND valid_to IS NULL",
            key,
        ).fetchone()
        until = None  # when the mention ends: only a late assertion's own edge is born ended
        if current is not None and add.valid_from < current[1]:
            relation_id, until = self.late(add, key)
        elif current is not None:
            relation_id = current[0]
        else:
            relation_id = new_id()
            conn.execute(
                "INSERT INTO graph_relations (id, user_id, agent_id, source_id, relation, target_id, "
                "memory_id, run_id, valid_from, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    relation_id,
                    add.user_id,
                    add.agent_id,
                    *key,
                    add.memory_id,
                    add.run_id,
                    add.valid_from,
                    self.now,
                ),
            )
            self.diff.added.append(self._triple(*key))
        conn.execute(
            "INSERT INTO graph_mentions (relation_id, memory_id, run_id, valid_to) VALUES (?, ?, ?, ?)",
            (relation_id, add.memory_id, add.run_id, until),
        )

    def late(self, add: Add, key: tuple[str, str, str]) -> tuple[str, float | None]:
        """Where an assertion goes that says the relation held before its current edge began (told
        late), and when its mention ends (see :func:`memoryd.graph.writes.late_edge`)."""
        edges = self.conn.execute(
            "SELECT id, valid_from, valid_to FROM graph_relations WHERE source_id = ? AND relation = ? "
            "AND target_id = ? ORDER BY rowid",
            key,
        ).fetchall()
        until = None if add.until is None else max(add.valid_from, add.until)
        found, widen = late_edge([(e[0], e[1], e[2]) for e in edges], add.valid_from, until)
        if found is not None:
            if widen:
                sql = "UPDATE graph_relations SET valid_from = ? WHERE id = ?"
                self.conn.execute(sql, (add.valid_from, found))
                return found, None
            return found, joined_end(next(e[2] for e in edges if e[0] == found), until)
        relation_id = new_id()  # an interval of its own, ended as its memory ends
        self.conn.execute(
            "INSERT INTO graph_relations (id, user_id, agent_id, source_id, relation, target_id, memory_id, "
            "run_id, valid_from, valid_to, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (relation_id, add.user_id, add.agent_id, *key, add.memory_id, add.run_id, add.valid_from,
             until, ENDED, self.now),
        )  # fmt: skip
        self.diff.added.append(self._triple(*key))
        return relation_id, until

    def found(self, owner: str, normals: Sequence[str]) -> list[str]:
        """The entities any of these keys of one name denotes for the owner, oldest first."""
        return [
            row[0]
            for row in self.conn.execute(
                "SELECT DISTINCT n.entity_id, e.rowid FROM graph_names n JOIN graph_entities e "
                f"ON e.id = n.entity_id WHERE n.owner = ? AND n.normal IN ({_marks(normals)}) "
                "ORDER BY e.rowid",
                (owner, *normals),
            )
        ]

    def close(self, close: Close) -> None:
        conn = self.conn
        sources = self.found(close.owner, close.source)
        targets = None if close.target is None else self.found(close.owner, close.target)
        if not sources or targets == []:
            return
        sql = (
            "SELECT id, source_id, relation, target_id FROM graph_relations WHERE "
            f"source_id IN ({_marks(sources)}) AND relation = ? AND valid_to IS NULL AND valid_from <= ?"
        )
        params: list[Any] = [*sources, close.relation, close.valid_to]
        if targets is not None:
            sql += f" AND target_id IN ({_marks(targets)})"
            params += targets
        for rid, src, relation, tgt in conn.execute(f"{sql} ORDER BY rowid", params).fetchall():
            conn.execute(
                "UPDATE graph_relations SET valid_to = ?, reason = ? WHERE id = ?",
                (close.valid_to, close.reason, rid),
            )
            self.diff.closed.append(self._triple(src, relation, tgt))

    def end_memories(self, ended: Sequence[tuple[str, float]]) -> None:
        """Mark these memories' assertions as ended; close edges no current memory asserts."""
        self.conn.executemany(
            "UPDATE graph_mentions SET valid_to = ? WHERE memory_id = ? AND valid_to IS NULL",
            [(t, mid) for mid, t in ended],
        )
        self.settle(self._relations_of([mid for mid, _ in ended]))

    def reopen_memories(self, reopened: Sequence[tuple[str, float | None]]) -> None:
        """These memories are current again (or end later): their assertions end with them again,
        and an edge closed because every memory asserting it ended (:data:`ENDED`) follows its
        mentions (current again, or ending at the latest of theirs); one closed for another reason
        stays closed. An edge current again beside another current one of the same source,
        relation and target is folded into it, as :meth:`merge` folds duplicates."""
        conn = self.conn
        conn.executemany(
            "UPDATE graph_mentions SET valid_to = ? WHERE memory_id = ? AND valid_to IS NOT NULL",
            [(until, mid) for mid, until in reopened],
        )
        for rid in self._relations_of([mid for mid, _ in reopened]):
            edge = conn.execute(
                "SELECT source_id, relation, target_id, valid_from, valid_to, reason FROM graph_relations "
                "WHERE id = ?",
                (rid,),
            ).fetchone()
            if edge is None or edge[4] is None or edge[5] != ENDED:
                continue
            source, relation, target, valid_from, valid_to, _ = edge
            mentions = conn.execute("SELECT valid_to FROM graph_mentions WHERE relation_id = ?", (rid,))
            ends = [m[0] for m in mentions]
            if all(end is not None for end in ends):  # still ended, perhaps later
                end = max(valid_from, *ends)
                if end != valid_to:
                    conn.execute("UPDATE graph_relations SET valid_to = ? WHERE id = ?", (end, rid))
                continue
            dup = conn.execute(
                "SELECT id FROM graph_relations WHERE source_id = ? AND relation = ? AND target_id = ? "
                "AND valid_to IS NULL",
                (source, relation, target),
            ).fetchone()
            if dup is None:
                conn.execute("UPDATE graph_relations SET valid_to = NULL, reason = NULL WHERE id = ?", (rid,))
                self.diff.added.append(self._triple(source, relation, target))
                continue
            self.fold(rid, dup[0], valid_from)

    def delete_memories(self, memory_ids: Sequence[str]) -> None:
        """Forget these memories' assertions: edges nobody else asserted go, then orphan entities."""
        affected = self._relations_of(memory_ids)
        for chunk in _chunks(memory_ids):
            self.conn.execute(f"DELETE FROM graph_mentions WHERE memory_id IN ({_marks(chunk)})", chunk)
        self.settle(affected)

    def _relations_of(self, memory_ids: Sequence[str]) -> list[str]:
        out: dict[str, None] = {}
        for chunk in _chunks(memory_ids):
            for (rid,) in self.conn.execute(
                f"SELECT relation_id FROM graph_mentions WHERE memory_id IN ({_marks(chunk)}) ORDER BY rowid",
                chunk,
            ):
                out[rid] = None
        return list(out)

    def settle(self, relation_ids: Sequence[str]) -> None:
        """Bring edges in line with their remaining mentions (delete, re-attribute or close)."""
        conn = self.conn
        touched: dict[str, None] = {}
        for rid in relation_ids:
            edge = conn.execute(
                "SELECT source_id, relation, target_id, valid_from, valid_to, memory_id FROM graph_relations "
                "WHERE id = ?",
                (rid,),
            ).fetchone()
            if edge is None:
                continue
            source, relation, target, valid_from, valid_to, memory_id = edge
            mentions = conn.execute(
                "SELECT memory_id, run_id, valid_to FROM graph_mentions WHERE relation_id = ? ORDER BY rowid",
                (rid,),
            ).fetchall()
            if not mentions:
                conn.execute("DELETE FROM graph_relations WHERE id = ?", (rid,))
                touched[source] = touched[target] = None
                continue
            if mentions[0][0] != memory_id:
                conn.execute(
                    "UPDATE graph_relations SET memory_id = ?, run_id = ? WHERE id = ?",
                    (mentions[0][0], mentions[0][1], rid),
                )
            if valid_to is None and all(m[2] is not None for m in mentions):
                end = max(valid_from, *(m[2] for m in mentions))
                conn.execute(
                    "UPDATE graph_relations SET valid_to = ?, reason = ? WHERE id = ?", (end, ENDED, rid)
                )
                self.diff.closed.append(self._triple(source, relation, target))
        for entity_id in touched:
            used = conn.execute(
                "SELECT 1 FROM graph_relations WHERE source_id = ? OR target_id = ? LIMIT 1",
                (entity_id, entity_id),
            ).fetchone()
            if used is None:
                conn.execute("DELETE FROM graph_names WHERE entity_id = ?", (entity_id,))
                conn.execute("DELETE FROM graph_entities WHERE id = ?", (entity_id,))


# -- reads (reader threads) ------------------------------------------------------
def _owner_sql(scope: Scope, table: str) -> tuple[list[str], list[Any]]:
    """Whose rows ``scope`` reads (its run aside): naming a user and an agent, the user's shared
    graph (no agent) and that agent's own, never another agent's, as the agent reads memories
    (:func:`memoryd.ingest.derived.agent_view`); otherwise the user's (every agent's) or the agent's."""
    if scope.user_id is not None and scope.agent_id is not None:
        return [f"{table}.user_id = ?", f"({table}.agent_id = ? OR {table}.agent_id IS NULL)"], [
            scope.user_id, scope.agent_id
        ]  # fmt: skip
    owner = [(k, v) for k, v in scope.items() if k != "run_id"]
    return [f"{table}.{k} = ?" for k, _ in owner], [v for _, v in owner]


def _entity_where(scope: Scope) -> tuple[str, list[Any]]:
    parts, params = _owner_sql(scope, "e")
    if scope.run_id is not None:
        # The run's entities, found once (not probed per entity: that is quadratic in a long session).
        parts.append(
            "e.id IN (SELECT r.source_id FROM graph_mentions m JOIN graph_relations r "
            "ON r.id = m.relation_id WHERE m.run_id = ? UNION SELECT r.target_id FROM graph_mentions m "
            "JOIN graph_relations r ON r.id = m.relation_id WHERE m.run_id = ?)"
        )
        params += [scope.run_id, scope.run_id]
    return " AND ".join(parts) or "1", params


def _relation_where(scope: Scope, as_of: datetime | None, include_expired: bool) -> tuple[str, list[Any]]:
    parts, params = _owner_sql(scope, "r")
    if scope.run_id is not None:
        parts.append("r.id IN (SELECT m.relation_id FROM graph_mentions m WHERE m.run_id = ?)")
        params.append(scope.run_id)
    v_sql, v_params = validity_sql(as_of, include_expired, "r")
    return " AND ".join([*parts, v_sql]), [*params, *v_params]


def _load_entities(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, Entity]:
    rows: list[tuple[Any, ...]] = []
    names: dict[str, list[tuple[str, str]]] = {}
    for chunk in _chunks(list(dict.fromkeys(ids))):
        rows += conn.execute(
            "SELECT id, name, normal, type, user_id, agent_id, created_at FROM graph_entities "
            f"WHERE id IN ({_marks(chunk)})",
            chunk,
        ).fetchall()
        for entity_id, name, normal in conn.execute(
            f"SELECT entity_id, name, normal FROM graph_names WHERE entity_id IN ({_marks(chunk)}) "
            "ORDER BY rowid",
            chunk,
        ):
            names.setdefault(entity_id, []).append((normal, name))
    out = {}
    for eid, name, normal, type_, user_id, agent_id, created in rows:
        # An older release's key of the name itself (see name_keys) is no alias
        others = tuple(dict.fromkeys(a for n, a in names.get(eid, []) if n != normal and a != name))
        out[eid] = Entity(eid, name, normal, type_, others, user_id, agent_id, from_epoch(created))  # type: ignore[arg-type]
    return out


def _load_relations(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> list[Relation]:
    entities = _load_entities(conn, [eid for r in rows for eid in (r[1], r[3])])
    mentions: dict[str, list[str]] = {}
    ids = [r[0] for r in rows]
    for chunk in _chunks(ids):
        for rid, memory_id in conn.execute(
            f"SELECT relation_id, memory_id FROM graph_mentions WHERE relation_id IN ({_marks(chunk)}) "
            "ORDER BY rowid",
            chunk,
        ):
            mentions.setdefault(rid, []).append(memory_id)
    return [
        Relation(
            id=rid,
            source=entities[src],
            relation=relation,
            target=entities[tgt],
            memory_id=memory_id,
            memory_ids=tuple(mentions.get(rid, [memory_id])),
            run_id=run_id,
            valid_from=from_epoch(valid_from),  # type: ignore[arg-type]
            valid_to=from_epoch(valid_to),
            reason=reason,
            created_at=from_epoch(created),  # type: ignore[arg-type]
        )
        for rid, src, relation, tgt, memory_id, run_id, valid_from, valid_to, reason, created in rows
    ]


class SQLiteGraphStore:
    """Entities and relations in the shared SQLite file (see the module docstring)."""

    outside_transaction = False  # its rows are in the record store's file and transaction

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    @classmethod
    def from_resources(cls, resources: Resources) -> SQLiteGraphStore:
        return cls(resources.sqlite())

    async def ping(self) -> None:
        return None  # in the record store's own file

    async def open(self) -> None:
        self.db.open()

        await self.db.write(lambda conn: execute_script(conn, _SCHEMA))

    async def close(self) -> None:
        self.db.close()

    async def apply(self, changes: ChangeSet) -> GraphDiff:
        result = GraphDiff()
        if not changes.touches_graph:
            return result  # the common fast-path write: nothing for the graph
        now = utcnow().timestamp()
        write = graph_write(changes, now)
        result.skipped.extend(write.skipped)
        if not write:
            return result
        adds, closes, ended, deletes = write.adds, write.closes, write.ended, write.deletes
        reopened = write.reopened
        done: list[GraphDiff] = []

        def op(conn: sqlite3.Connection) -> None:
            writer = _Writer(conn, now)
            if deletes:
                writer.delete_memories(deletes)
            for close in closes:
                writer.close(close)
            for add in adds:
                writer.add(add)
            if ended:
                writer.end_memories(ended)
            if reopened:
                writer.reopen_memories(reopened)
            done[:] = [writer.diff]

        def publish() -> None:
            for diff in done:
                result.extend(diff)

        await self.db.write(op, after_commit=publish)
        return result

    async def entities(
        self, scope: Scope, *, names: Sequence[str] | None = None, limit: int = 100
    ) -> list[Entity]:
        if limit <= 0:
            return []
        where, params = _entity_where(scope)
        if names is not None:
            normals = list(name_keys(names))
            if not normals:
                return []
            where += f" AND e.id IN (SELECT entity_id FROM graph_names WHERE normal IN ({_marks(normals)}))"
            params += normals

        def op(conn: sqlite3.Connection) -> list[Entity]:
            ids = [
                r[0]
                for r in conn.execute(
                    f"SELECT e.id FROM graph_entities e WHERE {where} ORDER BY e.created_at, e.rowid LIMIT ?",
                    [*params, limit],
                )
            ]
            found = _load_entities(conn, ids)
            return [found[i] for i in ids]

        return await self.db.read(op)

    async def neighbours(
        self,
        scope: Scope,
        names: Sequence[str],
        *,
        hops: int = 1,
        limit: int = 50,
        as_of: datetime | None = None,
        include_expired: bool = False,
    ) -> list[Relation]:
        """Relations touching the named entities (``hops=2``: and those one step further), nearest
        first, newest first within a hop. ``limit`` is shared among the entities in turns, so each
        gets its newest relations in even before one gets more (earlier names first in a turn, the
        entities one name finds oldest first). For an agent of a user, an entity of the user's shared
        graph and one of the agent's own with a name key in common are one node of the walk (each
        relation keeps its owner)."""
        check_hops(hops)
        position = name_keys(names)  # each name's keys, older ones too, by the name's place
        normals = list(position)
        if not normals or limit <= 0:
            return []
        e_parts, e_params = _owner_sql(scope, "e")
        e_sql = "".join(f" AND {part}" for part in e_parts)
        r_sql, r_params = _relation_where(scope, as_of, include_expired)

        def around(
            conn: sqlite3.Connection, ids: list[str], skip: list[str], cap: int
        ) -> list[tuple[Any, ...]]:
            """Up to ``cap`` relations touching ``ids``, newest first, shared out in turns: each
            entity's newest, then each one's next newest, ... (earlier ``ids`` first within a
            turn), so one entity with many relations cannot crowd out the others."""
            starts = ",".join("(?, ?)" for _ in ids)
            where = f"{r_sql} AND r.id NOT IN ({_marks(skip)})"
            side = "SELECT s.id, s.rank, r.rowid, r.valid_from FROM s JOIN graph_relations r ON r.{} = s.id "
            return conn.execute(
                f"WITH s(id, rank) AS (VALUES {starts}), "
                f"touching(sid, rank, rrow, valid_from) AS ({side.format('source_id')}WHERE {where} "
                f"UNION {side.format('target_id')}WHERE {where}), "
                "turns(rrow, turn) AS (SELECT rrow, rank + ? * row_number() OVER "
                "(PARTITION BY sid ORDER BY valid_from DESC, rrow DESC) FROM touching), "
                "picked(rrow) AS (SELECT rrow FROM turns GROUP BY rrow ORDER BY min(turn) LIMIT ?) "
                f"SELECT {_REL_COLS} FROM picked JOIN graph_relations r ON r.rowid = picked.rrow "
                "ORDER BY r.valid_from DESC, r.rowid DESC",
                [*(v for i, eid in enumerate(ids) for v in (eid, i)), *r_params, *skip, *r_params, *skip,
                 len(ids), cap],
            ).fetchall()  # fmt: skip

        def namesakes(conn: sqlite3.Connection, ids: list[str]) -> list[str]:
            """``ids``, each followed by the entities of the other graph of an agent's view that
            share a name key with it (see :func:`~memoryd.graph.models.joins_namesakes`)."""
            if not ids or not joins_namesakes(scope):
                return ids
            pairs = conn.execute(
                "SELECT DISTINCT n.entity_id, o.entity_id, e.created_at, e.rowid FROM graph_names n "
                "JOIN graph_names o ON o.normal = n.normal AND o.entity_id != n.entity_id "
                f"JOIN graph_entities e ON e.id = o.entity_id WHERE n.entity_id IN ({_marks(ids)}){e_sql} "
                "ORDER BY e.created_at, e.rowid",
                [*ids, *e_params],
            ).fetchall()
            return with_namesakes(ids, ((eid, other) for eid, other, _, _ in pairs))

        def op(conn: sqlite3.Connection) -> list[Relation]:
            # The start entities in the order of the names that found them, those one name finds
            # (the user's own and the user's agent's) in creation order, as :meth:`entities` lists.
            first: dict[str, int] = {}
            for entity_id, normal in conn.execute(
                "SELECT n.entity_id, n.normal FROM graph_names n JOIN graph_entities e "
                f"ON e.id = n.entity_id WHERE n.normal IN ({_marks(normals)}){e_sql} "
                "ORDER BY e.created_at, e.rowid",
                [*normals, *e_params],
            ):
                first[entity_id] = min(first.get(entity_id, len(normals)), position[normal])
            if not first:
                return []
            start = namesakes(conn, sorted(first, key=first.__getitem__))
            rows = around(conn, start, [], limit)
            if hops == 2 and len(rows) < limit:
                seen = set(start)
                frontier = [e for r in rows for e in (r[1], r[3]) if e not in seen]
                frontier = [e for e in namesakes(conn, list(dict.fromkeys(frontier))) if e not in seen]
                if frontier:
                    rows += around(conn, frontier, [r[0] for r in rows], limit - len(rows))
            return _load_relations(conn, rows)

        return await self.db.read(op)

    async def relations(
        self,
        scope: Scope,
        *,
        limit: int = 100,
        offset: int = 0,
        as_of: datetime | None = None,
        include_expired: bool = False,
    ) -> list[Relation]:
        if limit <= 0:
            return []
        where, params = _relation_where(scope, as_of, include_expired)

        def op(conn: sqlite3.Connection) -> list[Relation]:
            rows = conn.execute(
                f"SELECT {_REL_COLS} FROM graph_relations r WHERE {where} "
                "ORDER BY r.created_at DESC, r.rowid DESC LIMIT ? OFFSET ?",
                [*params, limit, max(offset, 0)],
            ).fetchall()
            return _load_relations(conn, rows)

        return await self.db.read(op)

    async def reset(self) -> None:
        def op(conn: sqlite3.Connection) -> None:
            for table in ("graph_mentions", "graph_relations", "graph_names", "graph_entities"):
                conn.execute(f"DELETE FROM {table}")

        await self.db.write(op)

    # -- rows as stored (export, import, memoryd check): see graph_rows ------------
    async def scan_entities(
        self, scope: Scope, *, after: str | None = None, limit: int = 1000
    ) -> tuple[list[EntityRow], str | None]:
        return await self.db.read(lambda conn: graph_rows.scan_entities(conn, scope, after, limit))

    async def scan_relations(
        self, scope: Scope, *, after: str | None = None, limit: int = 1000
    ) -> tuple[list[RelationRow], str | None]:
        return await self.db.read(lambda conn: graph_rows.scan_relations(conn, scope, after, limit))

    async def restore(self, entities: Sequence[EntityRow], relations: Sequence[RelationRow]) -> None:
        rows, edges = list(entities), list(relations)
        if rows or edges:
            await self.db.write(lambda conn: graph_rows.restore(conn, rows, edges))

    async def delete_entities(self, ids: Sequence[str], *, unused_only: bool = False) -> int:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return 0
        gone = await self.db.write(lambda conn: graph_rows.delete_entities(conn, wanted, unused_only))
        return int(gone or 0)

    async def memory_refs(self, *, after: str | None = None, limit: int = 1000) -> list[str]:
        return await self.db.read(lambda conn: graph_rows.memory_refs(conn, after, limit))

    async def check(self) -> list[str]:
        return await self.db.read(graph_rows.check)
