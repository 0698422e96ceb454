"""The FalkorDB graph store: entities and relations in a graph of a FalkorDB server, the rest of the
store (records, vectors, keywords, tiers) in SQLite.

- **Layout.** One graph per store (``storage.falkordb.graph``, default ``memoryd``; a tenant's
  store adds ``-<tenant>``): ``(:Entity)`` nodes, ``(:Name)`` nodes for every normalised name
  of an entity (aliases too), ``[:RELATES]`` edges from source to target with the relation's
  name and validity interval, ``(:Mention)`` nodes saying which memory asserted which relation
  (see :mod:`memoryd.storage.falkordb.writes`). A ``(:Meta)`` node records the store that made the
  graph: another store's graph is refused, as is a key memoryd did not write. The engine itself
  refuses a taken id or name, and a mention or relation without its memory.
- **Same rules as the embedded store.** Names are normalised and merged through aliases, a
  relation closes when its last current memory ends (and holds again when one is current
  again), a hard delete forgets what only its
  memories asserted and the entities left with nothing: the write is planned by
  :mod:`memoryd.graph.plan`, which follows :mod:`memoryd.storage.sqlite.graph` rule for rule,
  and the conformance suite (``tests/storage/``) runs every graph test on both.
- **Writes join the store's write.** :meth:`apply` (and :meth:`reset`, :meth:`restore`,
  :meth:`delete_entities`) run as the last step of the record store's transaction
  (:meth:`RecordStore.before_commit`), after every SQLite part of the write has run and just
  before SQLite commits; outside a transaction they open one of their own. Inside SQLite's write
  lock, a write reads the part of the graph it touches (one query; an alias merge reaching other
  entities' relations reads once or twice more), plans it in memory and writes it back in one
  query, which FalkorDB applies whole or not at all. That query first checks the graph's counter
  (``seq``) is where the read found it, so a write never lands on a graph that changed under it.
  A FalkorDB that is down, times out or refuses the write fails it with a 503 naming
  ``storage.falkordb.url``, and SQLite keeps nothing of it. Reads fail the same way: never an
  empty answer in place of an error.
- **The crash window.** FalkorDB cannot join SQLite's transaction. A process killed after
  FalkorDB applied a write and before SQLite committed it (or a SQLite commit failing then, a
  full disk) leaves that one write's graph changes without their records: relations and
  mentions asserted by memory ids the record store does not hold, for a write that was never
  acknowledged. Search never returns those memories (the records are the truth); :meth:`check`
  (so ``memoryd check``) reports each relation that only such memories assert, and ``memoryd
  check`` also lists the memory ids a graph relation names that do not exist. Graph reads stay
  as they are (a relation and its memory ids as stored); nothing removes those rows by itself,
  as the graph is not rebuilt from the records.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import astuple
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from memoryd.errors import InvalidInputError, StorageError
from memoryd.graph.models import Entity, GraphDiff, Relation, check_hops
from memoryd.graph.plan import Need, Planner, Snapshot
from memoryd.graph.writes import GraphWrite, graph_write
from memoryd.models import Scope, utcnow
from memoryd.storage.base import ChangeSet, RecordStore
from memoryd.storage.claims import ImportClaim
from memoryd.storage.falkordb import reads, rows, writes
from memoryd.storage.falkordb.client import GRAPH_SETTING, URL_SETTING, GraphClient
from memoryd.storage.portable import EntityRow, RelationRow
from memoryd.storage.resources import Resources

__all__ = ["FalkorDBGraphStore"]

T = TypeVar("T")


MADE_KEY = "falkordb_graph"  # the store's meta entry naming the graph it made

def _nul(value: Any) -> bool:
    """Whether ``value`` (text, or rows of it) holds a NUL character, where FalkorDB's strings end."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        value = list(value.values())
    return isinstance(value, list | tuple) and any(map(_nul, value))


def _storable(write: GraphWrite) -> GraphWrite:
    """A relation to add or close holding a NUL character is a bad request (422), never stored cut
    short. A deleted, ended or reopened memory id holding one has nothing in the graph: it is left out."""
    for field, items in (("graph_add", write.adds), ("graph_close", write.closes)):
        if any(_nul(astuple(item)) for item in items):
            raise InvalidInputError(
                f"a relation in {field} contains a NUL character, which storage.graph = 'falkordb' "
                "cannot store",
                field=field,
            )
    write.deletes = [m for m in write.deletes if not _nul(m)]
    write.ended = [(m, t) for m, t in write.ended if not _nul(m)]
    write.reopened = [(m, t) for m, t in write.reopened if not _nul(m)]
    return write


def _unmatched(scope: Scope) -> bool:
    """A scope no stored row can match (a NUL character: see :func:`_storable`)."""
    return _nul([scope.user_id, scope.agent_id, scope.run_id])


class FalkorDBGraphStore:
    """Entities and relations in FalkorDB (see the module docstring)."""

    outside_transaction = True  # written last, just before the records commit (Storage.commit)

    def __init__(self, client: GraphClient, records: RecordStore) -> None:
        self.client = client
        self.records = records  # whose transaction writes join; what check() compares with

    @classmethod
    def from_resources(cls, resources: Resources) -> FalkorDBGraphStore:
        return cls(GraphClient(resources.settings.storage.falkordb), resources.records())

    async def open(self) -> None:
        """Open this store's graph, making it on the store's first open. A graph the store made
        that is gone (wiped, a server started without its data, or ``graph`` naming another) is
        refused: an empty graph in its place would answer every read with nothing, silently."""
        from memoryd.storage import store_id  # the package imports this module's siblings

        self.client.closed = False
        store = await store_id(self.records)
        made = await self.records.get_meta(MADE_KEY)
        if made is not None and not self.client.config.recreate and await self.client.meta() is None:
            if made == self.client.name:
                what = f"{self.client.what} is gone, though this store made it"
            else:
                what = f"{self.client.what} does not exist, and this store's graph is {made!r}"
            raise StorageError(
                f"{what}: opening an empty one would lose its relations without a word. Restore the "
                f"graph (a FalkorDB backup), point {GRAPH_SETTING} at it, or set "
                "storage.falkordb.recreate = true once to start an empty graph",
                field=GRAPH_SETTING,
            )
        await self.client.open(store)
        if made != self.client.name:
            await self.records.set_meta(MADE_KEY, self.client.name)

    async def release(self, store: str, *, made: Collection[Path] = ()) -> bool:
        """Delete the graph if it records ``store``, then close (see :meth:`GraphClient.release`);
        a server's graph: ``made`` (local-mode folders an import made) names nothing of it."""
        self.client.closed = False  # a connection of its own, closed again below
        try:
            return await self.client.release(store)
        finally:
            await self.client.close()

    async def release_abandoned(self, *, made: Collection[Path] = ()) -> ImportClaim | None:
        """Delete the graph if an import into a new store claimed it and that store is gone, then
        close (see :meth:`GraphClient.release_abandoned`)."""
        self.client.closed = False  # a connection of its own, closed again below
        try:
            return await self.client.release_abandoned()
        finally:
            await self.client.close()

    async def mark_import(self, claim: ImportClaim | None) -> None:
        """Record an import's claim on the graph, or remove it (:mod:`memoryd.storage.claims`)."""
        await self.client.mark_import(claim)

    async def close(self) -> None:
        await self.client.close()

    async def ping(self) -> None:
        await self.client.ping()

    async def _staged(
        self, step: Callable[[], Awaitable[T]], publish: Callable[[T], None] | None = None
    ) -> None:
        """Run ``step`` as the last step of the record store's transaction (the open one, else one
        of its own); ``publish`` its result once the transaction has committed."""
        done: list[T] = []

        async def run() -> None:
            done.append(await step())

        async with self.records.transaction():
            self.records.before_commit(run)
            if publish is not None:
                self.records.after_commit(lambda: publish(done[0]) if done else None)

    # -- writes ---------------------------------------------------------------------------
    async def apply(self, changes: ChangeSet) -> GraphDiff:
        result = GraphDiff()
        if not changes.touches_graph:
            return result  # the common fast-path write: nothing for the graph
        now = utcnow().timestamp()
        write = graph_write(changes, now)
        result.skipped.extend(write.skipped)
        if not _storable(write):
            return result
        await self._staged(lambda: self._write(write, now), result.extend)
        return result

    async def _load(self, snap: Snapshot | None, params: dict[str, Any]) -> Snapshot:
        [row] = await self.client.query("reading the graph", writes.LOAD, params)
        if row[0] is None:
            raise StorageError(
                f"{self.client.what} has no memoryd Meta node: it was deleted or emptied while the store "
                "was open; restart memoryd to make it again (the relations it held are gone)",
                field=URL_SETTING,
            )
        return writes.loaded(snap, row, params)

    async def _write(self, write: GraphWrite, now: float) -> GraphDiff:
        """Read what ``write`` touches, plan it, write it back (one query); its diff. A plan that
        needs more of the graph (an alias merge) reads it and starts again: each read adds rows
        the snapshot did not cover, so this ends."""
        snap = await self._load(None, writes.first_need(write))
        while True:
            try:
                planner = Planner(snap, now).run(write)
            except Need as need:
                if not writes.covers_more(snap, need):  # a plan asking again for what it has: a bug
                    raise StorageError(f"a graph write kept asking for rows it had read ({need})") from None
                snap = await self._load(snap, writes.need_params(need))
                continue
            delta = planner.delta()
            if delta:
                await self._commit("writing the graph", writes.WRITE, writes.delta_params(delta))
            return planner.diff

    async def _commit(self, doing: str, cypher: str, params: dict[str, Any]) -> None:
        token = params.get("token")
        try:
            found = await self.client.query(doing, cypher, params, write=True)
        except StorageError:
            if token is not None and await self._landed(token):
                return  # the answer was lost (a dropped connection, a timeout), not the write
            raise
        if not found and token is not None and await self._landed(token):
            return  # the driver sent it again after it had landed: the guard refused the resend
        if not found:
            raise StorageError(
                f"{self.client.what} changed while {doing} (another process writing it without this "
                "store's SQLite lock, or its Meta node gone?): the write was not applied",
                field=URL_SETTING,
            )

    async def _landed(self, token: str) -> bool:
        """Whether the graph's last write is the one that left ``token`` (False when unsure)."""
        try:
            rows = await self.client.query("checking a write", "MATCH (m:Meta) RETURN m.write_token")
        except StorageError:
            return False
        return bool(rows) and rows[0][0] == token

    async def reset(self) -> None:
        async def wipe() -> None:
            await self._commit(
                "emptying the graph",
                "MATCH (meta:Meta) SET meta.seq = meta.seq + 1 WITH meta "
                "CALL { MATCH (n) WHERE NOT n:Meta DETACH DELETE n } RETURN meta.seq",
                {},
            )

        await self._staged(wipe)

    async def restore(self, entities: Sequence[EntityRow], relations: Sequence[RelationRow]) -> None:
        if not (entities or relations):
            return

        if _nul(writes.delta_params(rows.restored(0, entities, relations))):  # before any write
            raise InvalidInputError(
                "a graph row contains a NUL character, which storage.graph = 'falkordb' cannot store",
                field="graph",
            )

        async def write() -> None:
            [[seq]] = await self.client.query("reading the graph", "MATCH (m:Meta) RETURN m.seq")
            delta = rows.restored(seq, entities, relations)
            await self._commit("restoring rows", writes.WRITE, writes.delta_params(delta))

        await self._staged(write)

    async def delete_entities(self, ids: Sequence[str], *, unused_only: bool = False) -> int:
        wanted = [i for i in dict.fromkeys(ids) if not _nul(i)]  # one holding a NUL is not stored
        if not wanted:
            return 0

        async def write() -> int:
            [[seq, found]] = await self.client.query(
                "reading the graph", writes.DELETABLE, {"ids": wanted, "unused": unused_only}
            )
            if found:
                params = {"seq": seq, "ids": found, "token": uuid.uuid4().hex}
                await self._commit("deleting entities", writes.DELETE_ENTITIES, params)
            return len(found)

        gone: list[int] = []
        await self._staged(write, gone.append)
        return gone[0] if gone else 0

    # -- reads ------------------------------------------------------------------------------
    async def entities(
        self, scope: Scope, *, names: Sequence[str] | None = None, limit: int = 100
    ) -> list[Entity]:
        if limit <= 0 or _unmatched(scope):
            return []
        if names is not None:
            names = [n for n in names if not _nul(n)]
        return await reads.entities(self.client, scope, names, limit)

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
        first, newest first within a hop; ``limit`` shared among the entities in turns, as the
        embedded store does."""
        check_hops(hops)
        if _unmatched(scope):
            return []
        names = [n for n in names if not _nul(n)]
        return await reads.neighbours(self.client, scope, names, hops, limit, as_of, include_expired)

    async def relations(
        self,
        scope: Scope,
        *,
        limit: int = 100,
        offset: int = 0,
        as_of: datetime | None = None,
        include_expired: bool = False,
    ) -> list[Relation]:
        if limit <= 0 or _unmatched(scope):
            return []
        return await reads.relations(self.client, scope, limit, offset, as_of, include_expired)

    # -- rows as stored (export, import, memoryd check): see rows ------------------------------
    async def scan_entities(
        self, scope: Scope, *, after: str | None = None, limit: int = 1000
    ) -> tuple[list[EntityRow], str | None]:
        if _unmatched(scope):
            return [], None
        return await rows.scan_entities(self.client, scope, after, limit)

    async def scan_relations(
        self, scope: Scope, *, after: str | None = None, limit: int = 1000
    ) -> tuple[list[RelationRow], str | None]:
        if _unmatched(scope):
            return [], None
        return await rows.scan_relations(self.client, scope, after, limit)

    async def memory_refs(self, *, after: str | None = None, limit: int = 1000) -> list[str]:
        return await rows.memory_refs(self.client, after, limit)

    async def check(self) -> list[str]:
        return await rows.check(self.client, lambda ids: self.records.get_many(ids))
