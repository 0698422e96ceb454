"""The embedded vector index: vectors stored in SQLite, searched in memory.

Vectors are rows of the ``vectors`` table (written in the same transaction as
their memory, so they are as durable as it is). Searching loads the scope's
partition — every vector of one user, agent or run — into a contiguous float32
matrix once, keeps it fresh on every commit, and scores it with one BLAS
matrix-vector product. Partitions are evicted least-recently-used beyond
``storage.vector_cache_mb``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from memoryd.errors import EmbedderMismatchError
from memoryd.models import MemoryRecord, Scope
from memoryd.storage.base import ChangeSet
from memoryd.storage.resources import Resources
from memoryd.storage.sqlite.database import SQLiteDatabase

__all__ = ["SQLiteVectorIndex"]

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS vector_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS vectors (rowid INTEGER PRIMARY KEY, memory_id TEXT NOT NULL UNIQUE, "
    "user_id TEXT, agent_id TEXT, run_id TEXT, current INTEGER NOT NULL, vec BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS vectors_user ON vectors(user_id)",
    "CREATE INDEX IF NOT EXISTS vectors_agent ON vectors(agent_id)",
    "CREATE INDEX IF NOT EXISTS vectors_run ON vectors(run_id)",
]
_FIELDS = ("user_id", "agent_id", "run_id")
PartitionKey = tuple[str, str]


class _Partition:
    """All vectors of one scope value, as a growable matrix plus row attributes."""

    def __init__(self, dim: int, capacity: int = 64) -> None:
        self.dim = dim
        self.mat = np.zeros((capacity, dim), dtype=np.float32)
        self.live = np.zeros(capacity, dtype=bool)  # row holds a current memory
        self.present = np.zeros(capacity, dtype=bool)  # row not deleted
        self.scope: list[tuple[str | None, str | None, str | None]] = []
        self.ids: list[str] = []
        self.pos: dict[str, int] = {}
        self.n = 0

    @property
    def nbytes(self) -> int:
        return int(self.mat.nbytes)

    def _grow(self) -> None:
        cap = max(64, self.mat.shape[0] * 2)
        for name in ("mat", "live", "present"):
            old = getattr(self, name)
            new = np.zeros((cap, *old.shape[1:]), dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def put(
        self,
        memory_id: str,
        scope: tuple[str | None, str | None, str | None],
        current: bool,
        vec: np.ndarray | None,
    ) -> None:
        i = self.pos.get(memory_id)
        if i is None:
            if vec is None:
                return
            if self.n == self.mat.shape[0]:
                self._grow()
            i = self.n
            self.n += 1
            self.ids.append(memory_id)
            self.scope.append(scope)
            self.pos[memory_id] = i
        else:
            self.scope[i] = scope
        if vec is not None:
            self.mat[i] = vec
        self.live[i] = current
        self.present[i] = True

    def drop(self, memory_id: str) -> None:
        i = self.pos.get(memory_id)
        if i is not None:
            self.present[i] = False
            self.live[i] = False

    def search(
        self, q: np.ndarray, scope: Scope, limit: int, allowed: set[str] | None
    ) -> list[tuple[str, float]]:
        n = self.n
        if n == 0:
            return []
        if allowed is not None:
            rows = np.fromiter((self.pos[i] for i in allowed if i in self.pos), dtype=np.int64)
            rows = rows[self.present[rows]]
        else:
            rows = None
        extra = [(k, v) for k, v in scope.items()]
        if rows is not None:
            if rows.size == 0:
                return []
            scores = self.mat[rows] @ q
        else:
            scores = self.mat[:n] @ q
            scores[~self.live[:n]] = -np.inf
        if len(extra) > 1:  # the partition matched one scope field; check the others
            idx = range(n) if rows is None else rows
            index = {"user_id": 0, "agent_id": 1, "run_id": 2}
            for j, r in enumerate(idx):
                s = self.scope[r]
                if any(s[index[k]] != v for k, v in extra):
                    scores[j] = -np.inf
        k = min(limit, scores.shape[0])
        top = np.argpartition(-scores, k - 1)[:k] if k < scores.shape[0] else np.arange(scores.shape[0])
        top = top[np.argsort(-scores[top], kind="stable")]
        out = []
        for j in top:
            s = float(scores[j])
            if s == -np.inf:
                break
            r = int(j) if rows is None else int(rows[j])
            out.append((self.ids[r], s))
        return out


def _key_for(scope: Scope) -> PartitionKey:
    # The partition is chosen by the most specific field the query names.
    for field in ("run_id", "agent_id", "user_id"):
        value = getattr(scope, field)
        if value is not None:
            return (field, value)
    raise ValueError("empty scope")


class SQLiteVectorIndex:
    """Exact cosine search over in-memory partitions backed by SQLite rows."""

    def __init__(self, db: SQLiteDatabase, *, cache_bytes: int = 2 << 30) -> None:
        self.db = db
        self.dim = 0
        self.model = ""
        self._cache: OrderedDict[PartitionKey, _Partition] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._lock = threading.RLock()
        # Commits that land while a partition loads are replayed onto it.
        self._loading: dict[
            int, list[tuple[Sequence[tuple[MemoryRecord, np.ndarray | None]], Sequence[str]]]
        ] = {}

    @classmethod
    def from_resources(cls, resources: Resources) -> SQLiteVectorIndex:
        return cls(resources.sqlite(), cache_bytes=resources.settings.storage.vector_cache_mb << 20)

    async def open(self, model: str, dim: int) -> None:
        self.db.open()

        def op(conn: sqlite3.Connection) -> tuple[str | None, str | None, int]:
            for statement in _SCHEMA:
                conn.execute(statement)
            meta = dict(conn.execute("SELECT key, value FROM vector_meta").fetchall())
            count = conn.execute("SELECT count(*) FROM vectors").fetchone()[0]
            if not meta or count == 0:
                conn.execute("INSERT OR REPLACE INTO vector_meta VALUES ('model', ?)", (model,))
                conn.execute("INSERT OR REPLACE INTO vector_meta VALUES ('dim', ?)", (str(dim),))
                return model, str(dim), count
            return meta.get("model"), meta.get("dim"), count

        stored_model, stored_dim, count = await self.db.write(op)
        if stored_model != model or stored_dim != str(dim):
            raise EmbedderMismatchError(
                f"the store at {self.db.path} holds {count} vectors made by embedder "
                f"'{stored_model}' ({stored_dim} dimensions), but the configured embedder is "
                f"'{model}' ({dim} dimensions). Set embedder.provider back to the model that built "
                "the store, or point storage.path at a new file (vectors of different models "
                "are never mixed).",
                field="embedder.provider",
                stored_model=stored_model,
                configured_model=model,
            )
        self.model, self.dim = model, dim

    async def close(self) -> None:
        with self._lock:
            self._cache.clear()
        self.db.close()

    async def apply(self, changes: ChangeSet) -> None:
        rows = []
        meta_only = []
        for item in changes.upserts:
            m = item.memory
            if item.vector is None:
                meta_only.append((m.user_id, m.agent_id, m.run_id, int(m.is_current), m.id))
            else:
                vec = np.ascontiguousarray(item.vector, dtype=np.float32)
                rows.append((m.id, m.user_id, m.agent_id, m.run_id, int(m.is_current), vec.tobytes()))
        deletes = [(i,) for i in changes.deletes]
        if not rows and not meta_only and not deletes:
            return

        def op(conn: sqlite3.Connection) -> None:
            if rows:
                conn.executemany(
                    "INSERT INTO vectors (memory_id, user_id, agent_id, run_id, current, vec) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(memory_id) DO UPDATE SET "
                    "user_id=excluded.user_id, agent_id=excluded.agent_id, run_id=excluded.run_id, "
                    "current=excluded.current, vec=excluded.vec",
                    rows,
                )
            if meta_only:
                conn.executemany(
                    "UPDATE vectors SET user_id=?, agent_id=?, run_id=?, current=? WHERE memory_id=?",
                    meta_only,
                )
            if deletes:
                conn.executemany("DELETE FROM vectors WHERE memory_id = ?", deletes)

        upserts = [(s.memory, s.vector) for s in changes.upserts]
        await self.db.write(op, after_commit=lambda: self._refresh(upserts, changes.deletes))

    def _refresh(
        self, upserts: Sequence[tuple[MemoryRecord, np.ndarray | None]], deletes: Sequence[str]
    ) -> None:
        with self._lock:
            for pending in self._loading.values():
                pending.append((upserts, deletes))
            for memory, vec in upserts:
                scope = (memory.user_id, memory.agent_id, memory.run_id)
                for field, value in zip(_FIELDS, scope):
                    part = self._cache.get((field, value)) if value is not None else None
                    if part is not None:
                        part.put(memory.id, scope, memory.is_current, vec)
            for memory_id in deletes:
                for part in self._cache.values():
                    part.drop(memory_id)

    async def _partition(self, key: PartitionKey) -> _Partition:
        with self._lock:
            part = self._cache.get(key)
            if part is not None:
                self._cache.move_to_end(key)
                return part
        field, value = key
        dim = self.dim

        def load(conn: sqlite3.Connection) -> _Partition:
            rows = conn.execute(
                f"SELECT memory_id, user_id, agent_id, run_id, current, vec FROM vectors WHERE {field} = ? "
                "ORDER BY rowid",
                (value,),
            ).fetchall()
            part = _Partition(dim, capacity=max(64, len(rows)))
            if rows:
                part.mat[: len(rows)] = np.frombuffer(b"".join(r[5] for r in rows), dtype=np.float32).reshape(
                    len(rows), dim
                )
                part.n = len(rows)
                part.ids = [r[0] for r in rows]
                part.pos = {r[0]: i for i, r in enumerate(rows)}
                part.scope = [(r[1], r[2], r[3]) for r in rows]
                part.live[: len(rows)] = [bool(r[4]) for r in rows]
                part.present[: len(rows)] = True
            return part

        pending: list[tuple[Sequence[tuple[MemoryRecord, np.ndarray | None]], Sequence[str]]] = []
        with self._lock:
            self._loading[id(pending)] = pending
        try:
            part = await self.db.read(load)
        finally:
            with self._lock:
                del self._loading[id(pending)]
        with self._lock:
            existing = self._cache.get(key)
            if existing is not None:
                return existing
            for upserts, deletes in pending:  # commits that raced with the load
                for memory, vec in upserts:
                    if getattr(memory, field) == value:
                        part.put(
                            memory.id,
                            (memory.user_id, memory.agent_id, memory.run_id),
                            memory.is_current,
                            vec,
                        )
                for memory_id in deletes:
                    part.drop(memory_id)
            self._cache[key] = part
            self._evict()
        return part

    def _evict(self) -> None:
        total = sum(p.nbytes for p in self._cache.values())
        while total > self._cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            total -= old.nbytes

    async def search(
        self, vector: np.ndarray, *, scope: Scope, limit: int, allowed: set[str] | None = None
    ) -> list[tuple[str, float]]:
        if limit <= 0 or (allowed is not None and not allowed):
            return []
        part = await self._partition(_key_for(scope))
        q = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        with self._lock:
            return part.search(q, scope, limit, allowed)

    async def reset(self) -> None:
        await self.db.write(lambda conn: conn.execute("DELETE FROM vectors"), after_commit=self._clear)

    def _clear(self) -> None:
        with self._lock:
            self._cache.clear()
