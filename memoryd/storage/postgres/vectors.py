"""The PostgreSQL vector index: a table with a pgvector column, in a PostgreSQL server.

- One table per store (a tenant's store gets its own, see ``Settings.for_tenant``), one row per
  memory: its id (byte-ordered, ``COLLATE "C"``, as the record store orders ids), its scope
  (indexed), the end of its validity and its vector. ``memoryd_vector_meta`` records each
  table's embedding model: another model's vectors are refused, a half-done rebuild too.
- Search is exact within the scope: the scope's rows by their index, ranked by cosine distance
  (``<=>``), so a scope's results never depend on an approximate index's recall.
- Writes are written last, just before the record store commits (see
  :meth:`memoryd.storage.Storage.commit`), in one PostgreSQL transaction: a server that fails or
  is down fails the write (503) and the records keep nothing of it. A crash between
  PostgreSQL's commit and SQLite's leaves the table one unacknowledged write ahead: search
  never returns a row whose record is missing or not current, ``memoryd check`` reports the
  difference, ``memoryd reindex`` repairs it.
- Many processes may share the server (a server and its workers), unlike the local modes.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import numpy as np
import psycopg
from pgvector.psycopg import register_vector_async
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from memoryd.config import PostgresConfig
from memoryd.errors import ConfigError, InvalidInputError, MemorydError, StorageError
from memoryd.models import Scope, from_epoch
from memoryd.redact import mask_url
from memoryd.storage.base import ChangeSet
from memoryd.storage.claims import ImportClaim
from memoryd.storage.outside import OutsideIndex
from memoryd.storage.portable import IndexEntry
from memoryd.storage.resources import Resources

__all__ = ["PostgresVectorIndex"]

META = sql.Identifier("memoryd_vector_meta")
_MAX_NAME = 63  # PostgreSQL cuts longer names, silently: two would become one
_DOWN_S = 1.0  # an unreachable server is asked again after this long (see _use)
_CLOSE_S = 1.0  # the pool's workers are waited for this long when it closes (one may be connecting)
_T = TypeVar("_T")
_INLINE_DIM = 1900  # vectors up to this size fit a page: kept in their row, not out of line
_SCHEMA_META = [
    sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, model text NOT NULL, dim integer NOT NULL, "
        "rebuilding boolean NOT NULL DEFAULT false, store text)"
    ).format(META),
    sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS store text").format(META),  # made before stores had ids
    # an unfinished import's claim (memoryd.storage.claims), as JSON; made before claims were kept
    sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS claim text").format(META),
]


def table_name(wanted: str) -> str:
    """``wanted`` when PostgreSQL keeps it whole, else its start and a digest of all of it."""
    if len(wanted.encode()) <= _MAX_NAME:
        return wanted
    return f"{wanted[:44]}_{hashlib.sha256(wanted.encode()).hexdigest()[:16]}"


def _primary(exc: psycopg.Error) -> str:
    """The server's own message of ``exc``, on one line."""
    text = exc.diag.message_primary or str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _numbers(value: Any) -> Any:
    """A vector column's value as numbers (pgvector's ``Vector``, or already an array)."""
    return value.to_numpy() if hasattr(value, "to_numpy") else value


class PostgresVectorIndex(OutsideIndex):
    """Cosine search over a pgvector column, restricted to a scope by indexed columns."""

    engine = "PostgreSQL"
    owner_setting = "storage.postgres.table"

    def __init__(self, config: PostgresConfig) -> None:
        if config.url is None:
            raise ConfigError(
                "storage.vectors = 'postgres' needs storage.postgres.url (postgresql://user:password@host/db)",
                field="storage.postgres.url",
            )
        self.config = config
        self.url = config.url.get_secret_value()
        self.name = table_name(config.table)
        self.table = sql.Identifier(self.name)
        where = mask_url(self.url)
        super().__init__(where, f"the PostgreSQL table {self.name} at {where}", "storage.postgres.url")
        self._pool: AsyncConnectionPool | None = None
        self._down_until = 0.0  # monotonic time before which the server is not asked again
        self._abandoned: set[asyncio.Task[Any]] = set()  # uses past their deadline, ending (see _bounded)

    @classmethod
    def from_resources(cls, resources: Resources) -> PostgresVectorIndex:
        return cls(resources.settings.storage.postgres)

    # -- connection ----------------------------------------------------------------
    async def _open_pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            self._not_closed()
            timeout = self.config.timeout

            async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
                # in a pool's worker, not under a use's deadline: a server that stops answering
                # here would hold the worker (and the pool's close) for ever
                async with asyncio.timeout(timeout):
                    await conn.set_autocommit(True)
                    await conn.execute(f"SET statement_timeout = {int(timeout * 1000)}")
                    await conn.execute("SET jit = off")  # compiling a scope's scan costs more than the scan
                    await register_vector_async(conn)

            # the extension must exist before a connection can register its type
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=max(1, int(timeout))
                ) as conn, conn.transaction():
                    # CREATE … IF NOT EXISTS is not safe from two processes at once: one at a time
                    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('memoryd_vector_meta'))")
                    await self._create_extension(conn)
                    try:
                        for statement in _SCHEMA_META:
                            await conn.execute(statement)
                    except psycopg.errors.InsufficientPrivilege as exc:
                        raise self._refused("may not create memoryd's tables there", exc) from exc
            except psycopg.Error as exc:
                failed = self._fail(exc, "connecting")
                failed.details["unreachable"] = isinstance(exc, psycopg.OperationalError)
                raise failed from exc
            pool = AsyncConnectionPool(
                self.url,
                min_size=1,
                max_size=self.config.pool_size,
                timeout=timeout,
                configure=configure,
                open=False,
                kwargs={"connect_timeout": max(1, int(timeout))},
                check=AsyncConnectionPool.check_connection,  # a restart leaves dead idle connections
            )
            try:
                await pool.open()
            except BaseException:
                await pool.close(timeout=_CLOSE_S)
                raise
            if self._pool is not None or self.closed:  # another use opened one meanwhile, or closed
                await pool.close(timeout=_CLOSE_S)
                self._not_closed()
            else:
                self._pool = pool
        assert self._pool is not None
        return self._pool

    async def _create_extension(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """``CREATE EXTENSION vector`` (nothing when it exists); a server without pgvector, or a
        user who may not create it, is told what to do."""
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.errors.InsufficientPrivilege as exc:
            raise StorageError(
                f"PostgreSQL at {self.where} lacks the pgvector extension and this user may not create "
                "it: run `CREATE EXTENSION vector` once as a superuser (pgvector must be installed)",
                field="storage.postgres.url",
            ) from exc
        except (psycopg.errors.FeatureNotSupported, psycopg.errors.UndefinedFile) as exc:
            raise StorageError(
                f"PostgreSQL at {self.where} has no pgvector ({_primary(exc)}): install the pgvector "
                "extension on the database server (https://github.com/pgvector/pgvector; Debian: "
                "postgresql-<version>-pgvector), then try again",
                field="storage.postgres.url",
            ) from exc

    def _refused(self, what: str, exc: psycopg.Error) -> StorageError:
        """This user lacks a privilege memoryd needs (``what`` it may not do, the server's words)."""
        return StorageError(
            f"PostgreSQL at {self.where} refused: this user {what} ({_primary(exc)}): grant it, as the "
            "schema's owner (`GRANT CREATE ON SCHEMA public TO <user>` for the default schema), or connect "
            "as a user that owns the database",
            field="storage.postgres.url",
        )

    @property
    def _deadline_s(self) -> float:
        """The longest one use of the server may take: the pool's wait and a statement, each
        ``storage.postgres.timeout``, and a second more (the server's own timeout comes first)."""
        return 2 * self.config.timeout + 1

    async def _bounded(self, doing: str, work: Coroutine[Any, Any, _T], *, down: bool = True) -> _T:
        """``work`` (a use of the server), failed as the backend down (503) at :attr:`_deadline_s`.

        A server that stops answering (a partition, a hung host) runs no statement, so its
        ``statement_timeout`` never fires and the wait would have no end (a write holding the
        SQLite writer with it). ``work`` runs in a task of its own: at the deadline (or when the
        caller is cancelled) the caller is answered at once and the task is left to end in the
        background (:meth:`_abandon`). Cancelling psycopg in the caller's task made the caller
        wait for psycopg's cancel of the statement, up to 10 s more on a server that answers
        nothing. ``down``: an unreachable server is not asked again for ``_DOWN_S`` (see _use)."""
        task = asyncio.create_task(work)
        try:
            done, _ = await asyncio.wait({task}, timeout=self._deadline_s)
        except asyncio.CancelledError:  # the caller gave up (its client left, a shutdown)
            self._abandon(task)
            raise
        if not done:
            self._abandon(task)
            if down:
                self._down_until = time.monotonic() + _DOWN_S
            silent = TimeoutError(f"the server did not answer within {self._deadline_s:g} s")
            raise self._fail(silent, doing)
        try:
            return task.result()
        except MemorydError as exc:
            if down and exc.details.get("unreachable"):
                self._down_until = time.monotonic() + _DOWN_S
            raise
        except (psycopg.OperationalError, OSError, TimeoutError, PoolTimeout) as exc:
            if down:
                self._down_until = time.monotonic() + _DOWN_S
            raise self._fail(exc, doing) from exc
        except psycopg.Error as exc:
            raise self._fail(exc, doing) from exc

    def _abandon(self, task: asyncio.Task[Any]) -> None:
        """Cancel ``task``, a use past its deadline, and let it end in the background.

        Cancelled, psycopg asks the server to cancel the statement and waits for it (up to 10 s),
        then closes the connection, which the pool discards and replaces: a connection is never
        used again in an unknown state. The task is cancelled again each :attr:`_deadline_s`
        until it ends (a second cancel makes psycopg close the connection at once), so a server
        that stays hung holds at most the pool's connections, each for a bounded time."""
        task.cancel()
        if task.done() or task in self._abandoned:
            return
        self._abandoned.add(task)
        task.add_done_callback(self._ended)
        asyncio.get_running_loop().call_later(self._deadline_s, self._again, task)

    def _again(self, task: asyncio.Task[Any]) -> None:
        if not task.done():
            task.cancel()
            asyncio.get_running_loop().call_later(self._deadline_s, self._again, task)

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # its failure was the caller's 503 already: not logged as unretrieved

    async def _use(self, doing: str, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[_T]]) -> _T:
        """``work`` on a pooled connection (autocommit); a failure is the backend down (503).

        A server found unreachable is not asked again for ``_DOWN_S``: writes queued behind one
        another (each inside the SQLite writer's transaction) fail at once, not a timeout each.
        The whole use (the pool's wait, then the statements) has a deadline (:meth:`_bounded`)."""
        if (left := self._down_until - time.monotonic()) > 0:
            raise StorageError(
                f"PostgreSQL at {self.where} is unreachable (asked again in {left:.1f} s)",
                field="storage.postgres.url",
            )

        async def pooled() -> _T:
            pool = await self._open_pool()
            async with pool.connection() as conn:
                return await work(conn)

        return await self._bounded(doing, pooled())

    async def _fetch(
        self, doing: str, query: sql.SQL | sql.Composed, params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        async def fetch(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall() if cursor.description else []

        return await self._use(doing, fetch)

    async def _meta(self) -> dict[str, Any] | None:
        rows = await self._fetch(
            "reading the model record",
            sql.SQL("SELECT model, dim, rebuilding, store, claim FROM {} WHERE name = %s").format(META),
            (self.name,),
        )
        if not rows:
            return None
        model, dim, rebuilding, store, claimed = rows[0]
        claim = ImportClaim.of(claimed)
        return {"model": str(model), "dim": int(dim), "rebuilding": bool(rebuilding), "store": store,
                "import": claim.to_dict() if claim else None}  # fmt: skip

    async def _exists(self) -> bool:
        query = sql.SQL("SELECT to_regclass(quote_ident(%s))")  # quoted, as made: the case is kept
        rows = await self._fetch("looking for the table", query, (self.name,))
        return bool(rows and rows[0][0])

    async def _count(self) -> int:
        if not await self._exists():
            return 0
        rows = await self._fetch("counting vectors", sql.SQL("SELECT count(*) FROM {}").format(self.table))
        return int(rows[0][0])

    async def _any(self) -> bool:  # not a count: /health asks
        if not await self._exists():
            return False
        rows = await self._fetch(
            "counting vectors", sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(self.table)
        )
        return bool(rows[0][0])

    async def _write_meta(self, model: str, dim: int, *, rebuilding: bool) -> None:
        await self._fetch(
            "recording the model",
            sql.SQL(
                "INSERT INTO {} (name, model, dim, rebuilding, store, claim) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET model = excluded.model, dim = excluded.dim, "
                "rebuilding = excluded.rebuilding, store = excluded.store, claim = excluded.claim "
                "WHERE {meta}.store IS NULL OR {meta}.store = excluded.store"  # never another store's
            ).format(META, meta=META),
            (self.name, model, dim, rebuilding, self.store, self.claim.to_json() if self.claim else None),
        )

    async def _create(self, dim: int) -> None:
        statements = [
            sql.SQL(
                'CREATE TABLE IF NOT EXISTS {} (memory_id text COLLATE "C" PRIMARY KEY, user_id text, '
                "agent_id text, run_id text, valid_to double precision, embedding vector({}) NOT NULL)"
            ).format(self.table, sql.Literal(dim)),
            *(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                    sql.Identifier(table_name(f"{self.name}_{field}")), self.table, sql.Identifier(field)
                )
                for field in ("user_id", "agent_id", "run_id")
            ),
        ]
        if dim <= _INLINE_DIM:  # read in the row: a scope's scan reads no TOAST pages (6x faster here)
            statements.append(
                sql.SQL("ALTER TABLE {} ALTER COLUMN embedding SET STORAGE PLAIN").format(self.table)
            )

        async def create(conn: psycopg.AsyncConnection[Any]) -> None:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.name,))  # as above
                for statement in statements:
                    await conn.execute(statement)

        await self._use("creating the table", create)

    async def drop(self) -> None:
        """Drop the table and its model record (a rebuild starts from nothing)."""

        async def drop(conn: psycopg.AsyncConnection[Any]) -> None:
            async with conn.transaction():
                # the record first, as a write locks them (see _model_held): the other order could deadlock
                await conn.execute(sql.SQL("DELETE FROM {} WHERE name = %s").format(META), (self.name,))
                await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self.table))

        await self._use("dropping the table", drop)

    async def _size(self) -> int | None:
        rows = await self._fetch(
            "reading the table",
            sql.SQL(
                "SELECT atttypmod FROM pg_attribute "
                "WHERE attrelid = to_regclass(quote_ident(%s)) AND attname = 'embedding'"
            ),
            (self.name,),
        )
        return int(rows[0][0]) if rows else None

    async def ping(self) -> None:
        """One connection and ``SELECT 1``: neither the extension nor a table is made."""

        async def ping() -> None:
            async with await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=max(1, int(self.config.timeout))
            ) as conn:
                await conn.execute("SELECT 1")

        await self._bounded("connecting", ping(), down=False)  # as a use's: a hung server never answers

    # -- the VectorIndex role ---------------------------------------------------------
    async def close(self) -> None:
        """Close the pool; uses left past their deadline (:meth:`_abandon`) are cancelled again,
        which makes psycopg close their connections at once: closing does not wait for psycopg's
        cancel on a server that stopped answering, only up to ``_CLOSE_S`` for the pool's workers
        (one may be connecting to it)."""
        self.closed = True
        pool, self._pool = self._pool, None
        for _ in range(3):  # a cancel not yet delivered to a task merges with the next one
            if not (left := [task for task in self._abandoned if not task.done()]):
                break
            for task in left:
                task.cancel()
            await asyncio.wait(left, timeout=0.1)
        if pool is not None:
            await pool.close(timeout=_CLOSE_S)

    async def apply(self, changes: ChangeSet) -> None:
        rows, relabel = [], []
        for item in changes.upserts:
            m = item.memory
            for field, value in (("id", m.id), *m.scope.items()):
                if "\x00" in value:  # text in PostgreSQL never holds one: a bad request, not a server down
                    raise InvalidInputError(
                        f"{field} contains a NUL character, which storage.vectors = 'postgres' cannot store",
                        field=field,
                    )
            valid_to = m.valid_to.timestamp() if m.valid_to else None
            if item.vector is None:  # the text is unchanged: scope and validity only
                relabel.append((m.user_id, m.agent_id, m.run_id, valid_to, m.id))
            else:
                vector = np.asarray(item.vector, dtype=np.float32).reshape(-1)
                rows.append((m.id, m.user_id, m.agent_id, m.run_id, valid_to, vector))
        if not rows and not relabel and not changes.deletes:
            return
        await self._use("writing vectors", lambda conn: self._write(conn, rows, relabel, changes.deletes))

    async def _write(
        self,
        conn: psycopg.AsyncConnection[Any],
        rows: list[tuple[Any, ...]],
        relabel: list[tuple[Any, ...]],
        deletes: Sequence[str],
    ) -> None:
        """:meth:`apply`'s statements, in one transaction."""
        async with conn.transaction(), conn.cursor() as cur:
            if rows:
                await self._model_held(cur)
                await cur.executemany(
                    sql.SQL(
                        "INSERT INTO {} (memory_id, user_id, agent_id, run_id, valid_to, embedding) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (memory_id) DO UPDATE SET "
                        "user_id = excluded.user_id, agent_id = excluded.agent_id, run_id = excluded.run_id, "
                        "valid_to = excluded.valid_to, embedding = excluded.embedding"
                    ).format(self.table),
                    rows,
                )
            if relabel:
                await cur.executemany(
                    sql.SQL(
                        "UPDATE {} SET user_id = %s, agent_id = %s, run_id = %s, valid_to = %s "
                        "WHERE memory_id = %s"
                    ).format(self.table),
                    relabel,
                )
            if deletes:
                await cur.execute(
                    sql.SQL("DELETE FROM {} WHERE memory_id = ANY(%s)").format(self.table), (list(deletes),)
                )

    async def _model_held(self, cur: psycopg.AsyncCursor[Any]) -> None:
        """:meth:`_still_its_model` in the write's own transaction, its first statement: the model
        record read ``FOR SHARE``, held until the write commits. A `memoryd reindex` by another
        process (its :meth:`drop`, its new model record) waits for this write to commit, or this
        read for the reindex's change to commit and then reads what it left: a record of another
        model, or none. A check before the transaction let a reindex move the index between the
        check and the write, and the write put a vector of the old model among the new model's."""
        await cur.execute(
            sql.SQL("SELECT model, dim FROM {} WHERE name = %s FOR SHARE").format(META), (self.name,)
        )
        found = await cur.fetchone()
        if found is None:
            raise StorageError(
                f"{self.what} has no model record: it was dropped since this process opened it (by "
                "a `memoryd reindex` in another process, or by hand). Nothing was written; try again once "
                "it is rebuilt",
                field=self.setting,
            )
        self._same_model((found[0], found[1]), "Nothing was written; restart")

    def _where(
        self, scope: Scope, allowed: set[str] | None, only: set[str] | None
    ) -> tuple[sql.Composed, list[Any]]:
        """The WHERE of a search: ``scope``'s rows, current ones or exactly ``allowed``, only
        among ``only`` when given."""
        terms: list[sql.Composable] = [sql.SQL("{} = %s").format(sql.Identifier(f)) for f, _ in scope.items()]
        params: list[Any] = [value for _, value in scope.items()]
        if allowed is None:  # current memories only
            terms.append(sql.SQL("valid_to IS NULL"))
        ids = only if only is not None else allowed
        if ids is not None:
            terms.append(sql.SQL("memory_id = ANY(%s)"))
            params.append(list(ids))
        return sql.SQL(" AND ").join(terms), params

    async def _nearest(
        self, query: np.ndarray, scope: Scope, limit: int, allowed: set[str] | None, only: set[str] | None
    ) -> list[tuple[str, float]]:
        if any("\x00" in value for _, value in scope.items()):
            return []  # no row holds one (see apply)
        where, params = self._where(scope, allowed, only)
        statement = sql.SQL(
            "SELECT memory_id, embedding <=> %s AS distance FROM {} WHERE {} "
            "ORDER BY distance, memory_id LIMIT %s"
        ).format(self.table, where)
        rows = await self._fetch("searching", statement, [query, *params, limit])  # the query sent once
        return [(str(r[0]), 1.0 - float(r[1])) for r in rows]

    async def _nearest_and(
        self, query: np.ndarray, scope: Scope, limit: int, allowed: set[str] | None, wanted: set[str]
    ) -> list[tuple[str, float]]:
        """Both passes of a search in one statement: one round trip, the query vector sent once."""
        if any("\x00" in value for _, value in scope.items()):
            return []
        best_where, best_params = self._where(scope, allowed, None)
        also_where, also_params = self._where(scope, allowed, wanted)
        statement = sql.SQL(
            "WITH q AS MATERIALIZED (SELECT %s::vector AS v) "
            "(SELECT memory_id, embedding <=> (SELECT v FROM q) AS distance, 0 AS part FROM {t} "
            "WHERE {best} ORDER BY distance, memory_id LIMIT %s) UNION ALL "
            "(SELECT memory_id, embedding <=> (SELECT v FROM q), 1 FROM {t} WHERE {also}) "
            "ORDER BY part, distance, memory_id"
        ).format(t=self.table, best=best_where, also=also_where)
        rows = await self._fetch("searching", statement, [query, *best_params, limit, *also_params])
        best = [(str(r[0]), 1.0 - float(r[1])) for r in rows if r[2] == 0]
        taken = {mid for mid, _ in best}
        return best + [(str(r[0]), 1.0 - float(r[1])) for r in rows if r[2] == 1 and str(r[0]) not in taken]

    async def reset(self) -> None:
        await self._fetch("deleting every vector", sql.SQL("DELETE FROM {}").format(self.table))

    # -- listing and checking (export, memoryd check) ------------------------------------
    async def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(ids))
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(wanted), 1000):
            rows = await self._fetch(
                "reading vectors",
                sql.SQL("SELECT memory_id, embedding FROM {} WHERE memory_id = ANY(%s)").format(self.table),
                (wanted[start : start + 1000],),
            )
            out.update((str(r[0]), np.asarray(_numbers(r[1]), dtype=np.float32)) for r in rows)
        return out

    async def entries(self, *, after: str | None = None, limit: int = 1000) -> list[IndexEntry]:
        rows = await self._fetch(
            "listing rows",
            sql.SQL(
                "SELECT memory_id, user_id, agent_id, run_id, valid_to FROM {} WHERE memory_id > %s "
                "ORDER BY memory_id LIMIT %s"
            ).format(self.table),
            (after or "", limit),
        )
        return [IndexEntry(r[0], r[1], r[2], r[3], from_epoch(r[4])) for r in rows]
