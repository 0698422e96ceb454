"""One FalkorDB graph over one connection pool: queries with the driver's errors translated, and
the graph's schema and owner (the store that made it).

Every failure of the server (down, refusing, timing out) is a :class:`~memoryd.errors.StorageError`
(503) naming ``storage.falkordb.url``; a graph that is another store's, or that memoryd did not
write, is a :class:`~memoryd.errors.ConflictError` naming ``storage.falkordb.graph``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import Any

from falkordb.asyncio.graph import AsyncGraph
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from memoryd.config import FalkorDBConfig
from memoryd.errors import ConfigError, ConflictError, MemorydError, StorageError
from memoryd.redact import mask_url
from memoryd.storage.claims import ImportClaim, abandoned
from memoryd.storage.outside import check_owner

__all__ = ["GRAPH_SETTING", "URL_SETTING", "GraphClient"]

URL_SETTING = "storage.falkordb.url"
GRAPH_SETTING = "storage.falkordb.graph"
VERSION = 1  # of the layout below, recorded in the graph's Meta node

# Range indexes (FalkorDB indexes each property named), then constraints: ids and name keys are
# unique, and a mention or relation without its memory is refused by the engine itself.
_INDEXES = (
    "CREATE INDEX FOR (e:Entity) ON (e.id, e.user_id, e.agent_id, e.owner_run, e.created_at, e.seq)",
    "CREATE INDEX FOR (n:Name) ON (n.key, n.entity_id, n.normal)",
    "CREATE INDEX FOR (m:Mention) ON (m.relation_id, m.memory_id, m.run_id)",
    "CREATE INDEX FOR ()-[r:RELATES]-() ON (r.id, r.user_id, r.agent_id, r.created_at, r.seq)",
)
_CONSTRAINTS = (
    ("UNIQUE", "NODE", "Entity", ("id",)),
    ("MANDATORY", "NODE", "Entity", ("id",)),
    ("UNIQUE", "NODE", "Name", ("key",)),
    ("MANDATORY", "NODE", "Name", ("key", "entity_id")),
    ("UNIQUE", "NODE", "Mention", ("relation_id", "memory_id")),
    ("MANDATORY", "NODE", "Mention", ("relation_id", "memory_id")),
    ("UNIQUE", "RELATIONSHIP", "RELATES", ("id",)),
    ("MANDATORY", "RELATIONSHIP", "RELATES", ("id", "memory_id")),
)
_META = "MATCH (m:Meta) RETURN m.store, m.seq, m.version, m.import_source, m.import_path"
# Every label, relationship type and property name the store writes, made once when the graph is:
# FalkorDB 4.16 drops the names a failed (rolled back) query made, while its cached plan of that
# query keeps their ids, so the next run of it would write properties nobody can read.
_PROPERTIES = (
    "id owner owner_run user_id agent_id name normal type created_at seq key entity_id relation "
    "memory_id run_id valid_from valid_to reason relation_id store version write_token import_source "
    "import_path"
).split()
_NAMES = (
    "CREATE (a:Entity {props})-[r:RELATES {props}]->(b:Name {props}) CREATE (c:Mention {props}) "
    "CREATE (d:Meta {props}) DELETE r, a, b, c, d"
).replace("{props}", "{" + ", ".join(f"{p}: 0" for p in _PROPERTIES) + "}")


class GraphClient:
    """The graph ``config.graph`` of the server at ``config.url`` (connected on first use)."""

    def __init__(self, config: FalkorDBConfig) -> None:
        self.config = config
        self.name = config.graph
        self.where = mask_url(config.url.get_secret_value())
        self.what = f"the FalkorDB graph {self.name} at {self.where}"
        self._redis: Any = None
        self._graph_: Any = None
        # Closed (close()): no connection is made again until open() or release() (a graph write
        # staged in the record store's transaction may still start after the store closed).
        self.closed = False
        self.opened = False  # open() found or made the graph: from then on it must be there

    def _graph(self) -> Any:
        """The graph, over a Redis connection pool made on first use. The pool is made here rather
        than by ``falkordb.asyncio.FalkorDB``, whose constructor asks the server whether it is a
        cluster with a blocking call: a server that is down would stall the event loop."""
        if self._graph_ is None:
            if self.closed:
                message = f"{self.what} is closed: nothing more is read or written"
                raise StorageError(message, field=URL_SETTING)
            timeout = self.config.timeout
            try:
                self._redis = Redis.from_url(
                    self.config.url.get_secret_value(),
                    decode_responses=True,  # as falkordb's own client: the result parser wants text
                    socket_timeout=timeout,
                    socket_connect_timeout=timeout,
                    # One quick retry on a fresh connection: a pooled one may predate a restart. A
                    # write retried after it landed fails on the graph's counter (never twice).
                    retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), 1),
                )
            except ValueError:  # its message may quote a piece of the password
                raise ConfigError(
                    f"{URL_SETTING} is not a valid Redis URL (redis://[:password@]host:port; "
                    "percent-encode /, ?, # and @ in the password)",
                    field=URL_SETTING,
                ) from None
            self._graph_ = AsyncGraph(self._redis, self.name)
        return self._graph_

    def fail(self, exc: BaseException, doing: str) -> StorageError:
        """The server failing (down, refusing, timing out): the backend is unavailable (503)."""
        text = str(exc).strip()
        detail = text.splitlines()[0] if text else type(exc).__name__
        return StorageError(f"FalkorDB at {self.where} failed while {doing}: {detail}", field=URL_SETTING)

    async def query(self, doing: str, cypher: str, params: dict[str, Any] | None = None, *,
                    write: bool = False) -> list[list[Any]]:  # fmt: skip
        """The rows of one query (``write``: one that may change the graph, atomically)."""
        try:
            graph = self._graph()
            run = graph.query if write else graph.ro_query
            result = await run(cypher, params)
        except MemorydError:
            raise
        except Exception as exc:
            raise self.fail(exc, doing) from exc
        return list(result.result_set)

    async def _command(self, doing: str, *args: Any) -> Any:
        try:
            self._graph()
            return await self._redis.execute_command(*args)
        except MemorydError:
            raise
        except Exception as exc:
            raise self.fail(exc, doing) from exc

    async def ping(self) -> None:
        """Whether the server answers as FalkorDB (``GRAPH.LIST``: no graph is read or made, so a
        server with none yet answers too); once :meth:`open` found or made the graph, also that it is
        still there (a 503 naming the graph when it was wiped)."""
        await self._command("reaching the server", "GRAPH.LIST")
        if self.opened and await self._command("looking for the graph", "TYPE", self.name) != "graphdata":
            raise StorageError(
                f"{self.what} is gone: it was deleted while the store was open. Restore it (a FalkorDB "
                "backup), or set storage.falkordb.recreate = true once and restart to start an empty graph",
                field=GRAPH_SETTING,
            )

    async def close(self) -> None:
        self.closed = True
        redis, self._redis, self._graph_ = self._redis, None, None
        if redis is not None:
            await redis.aclose()

    # -- the graph's owner and layout ------------------------------------------------------
    async def meta(self) -> dict[str, Any] | None:
        """The Meta node (store, seq, version); None when the graph or its Meta node is missing."""
        kind = await self._command("looking for the graph", "TYPE", self.name)
        if kind == "none":
            return None
        if kind != "graphdata":
            raise self._foreign(f"a Redis {kind}, not a graph")
        rows = await self.query("reading the graph's owner", _META)
        if not rows:
            nodes = await self.query("looking into the graph", "MATCH (n) RETURN count(n) > 0")
            if nodes and nodes[0][0]:
                raise self._foreign("nodes memoryd did not write (no Meta node)")
            return None
        store, seq, version, source, path = rows[0]
        claim = ImportClaim.of({"source": source, "path": path})
        return {"store": store, "seq": seq, "version": version, "import": claim.to_dict() if claim else None}

    def _foreign(self, what: str) -> ConflictError:
        return ConflictError(
            f"{self.what} holds {what}: give this store a graph of its own with {GRAPH_SETTING}",
            field=GRAPH_SETTING,
        )

    async def open(self, store: str | None) -> None:
        """Make sure the graph exists with its indexes, and is this store's (``store``); refuse
        another store's graph, or a key memoryd did not write."""
        meta = await self.meta()
        recorded, claimed = (meta or {}).get("store"), (meta or {}).get("import")
        check_owner(self.what, GRAPH_SETTING, recorded, store, holds="the graph", claim=claimed)
        if meta is None:
            await self._create()
            await self.query(
                "recording the graph's owner",
                "MERGE (m:Meta) ON CREATE SET m.seq = 0, m.version = $version, m.store = $store",
                {"version": VERSION, "store": store},
                write=True,
            )
            meta = await self.meta()  # two stores creating it at once: one of them wins
            check_owner(self.what, GRAPH_SETTING, (meta or {}).get("store"), store, holds="the graph")
        elif store and meta.get("store") != store:  # recorded before stores had ids: taken over
            await self.query("recording the graph's owner", "MATCH (m:Meta) SET m.store = $store",
                             {"store": store}, write=True)  # fmt: skip
        if meta is not None and meta.get("version") not in (None, VERSION):
            raise self._foreign(f"a layout memoryd {VERSION} does not read (version {meta.get('version')})")
        self.opened = True

    async def release(self, store: str) -> bool:
        """Delete the graph if its Meta node records ``store`` (made by an import into that new
        store that was refused or interrupted); another store's graph, or none's, is left as it is."""
        meta = await self.meta()
        if not meta or meta.get("store") != store:
            return False
        await self._command("deleting the graph", "GRAPH.DELETE", self.name)
        return True

    async def release_abandoned(self) -> ImportClaim | None:
        """Delete the graph if an import into a new store claimed it and that store is gone (see
        :mod:`memoryd.storage.claims`): the claim, or None. :class:`ConflictError` when that store
        still exists."""
        claim = abandoned(await self.meta(), self.what)
        if claim is not None:
            await self._command("deleting the graph", "GRAPH.DELETE", self.name)
        return claim

    async def mark_import(self, claim: ImportClaim | None) -> None:
        """Record ``claim`` on the Meta node (an import into this new store, running), or remove
        it (None: the import finished)."""
        params = {"source": claim.source if claim else None, "path": claim.path if claim else None}
        await self.query("recording the import", "MATCH (m:Meta) SET m.import_source = $source, "
                         "m.import_path = $path", params, write=True)  # fmt: skip

    async def _create(self) -> None:
        for statement in _INDEXES:
            await self._quietly(self.query("creating the graph's indexes", statement, write=True))
        await self.query("naming the graph's properties", _NAMES, write=True)
        for kind, entity, label, props in _CONSTRAINTS:
            command = ("GRAPH.CONSTRAINT", "CREATE", self.name, kind, entity, label, "PROPERTIES", len(props))
            await self._quietly(self._command("creating the graph's constraints", *command, *props))
        for _ in range(math.ceil(self.config.timeout / 0.05)):  # built at once on an empty graph
            rows = await self.query("reading the graph's constraints", "CALL db.constraints()")
            if all(r[-1] == "OPERATIONAL" for r in rows):
                return
            await asyncio.sleep(0.05)
        raise StorageError(f"{self.what}: its constraints were not built in time", field=URL_SETTING)

    @staticmethod
    async def _quietly(statement: Awaitable[Any]) -> None:
        """Run one schema statement; one that exists already (a half-made graph) is fine."""
        try:
            await statement
        except StorageError as exc:
            if "already" not in exc.message:
                raise
