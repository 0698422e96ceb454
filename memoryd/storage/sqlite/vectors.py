"""The embedded vector index: vectors stored in SQLite, searched in memory.

Vectors are rows of the ``vectors`` table, written in the same transaction as
their memory. A search loads the scope's partition — every vector of one user,
agent or run — into a contiguous float32 matrix once and scores it with one
BLAS matrix-vector product. Partitions larger than ``storage.exact_search_max``
add a low-dimensional projection (the sample's top principal directions): a
first pass over the projection shortlists candidates, which are then scored
exactly, so large scopes stay fast with results checked against exact search.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from memoryd.errors import StorageError
from memoryd.models import MemoryRecord, Scope, from_epoch
from memoryd.storage.base import ChangeSet
from memoryd.storage.mismatch import embedder_mismatch, moved_meanwhile
from memoryd.storage.portable import IndexEntry
from memoryd.storage.resources import Resources
from memoryd.storage.sqlite import changes as changes_log
from memoryd.storage.sqlite.database import SQLiteDatabase, holds_rows_without
from memoryd.storage.sqlite.gone_index import index_gone
from memoryd.storage.sqlite.partitions import PartitionCache, PartitionKey, partition_key
from memoryd.storage.sqlite.rows import Rows, RowStub, grow

__all__ = ["SQLiteVectorIndex", "VectorPartition", "largest"]

log = logging.getLogger("memoryd.storage")

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS vector_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS vectors (rowid INTEGER PRIMARY KEY, memory_id TEXT NOT NULL UNIQUE, "
    "user_id TEXT, agent_id TEXT, run_id TEXT, valid_to REAL, vec BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS vectors_user ON vectors(user_id)",
    "CREATE INDEX IF NOT EXISTS vectors_agent ON vectors(agent_id)",
    "CREATE INDEX IF NOT EXISTS vectors_run ON vectors(run_id)",
]
PROJECTION_DIM = 96
OFFLOAD_ROWS = 20000  # partitions at least this large are scored on a reader thread
SHORTLIST = 500  # candidates a projection pass keeps, at least; and per hit wanted:
SHORTLIST_PER_HIT = 5
SPLIT_CELLS = 1 << 23  # matrix-vector products at least this large run in slices on all cores
REPAIR = "rebuild it from the records with `memoryd reindex`"

_WORKERS = min(os.cpu_count() or 1, 8) - 1  # slices run on these threads and the caller's
_slices: ThreadPoolExecutor | None = None
_slices_lock = threading.Lock()


def _slice_pool() -> ThreadPoolExecutor | None:
    global _slices
    if _WORKERS < 1:
        return None
    with _slices_lock:
        if _slices is None:
            _slices = ThreadPoolExecutor(_WORKERS, thread_name_prefix="memoryd-matvec")
    return _slices


def matvec(mat: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``mat @ q``, split across cores when large.

    BLAS runs single-threaded here (``runtime.blas_threads``: its idle threads spin and
    add tail latency), so a large product is cut into row slices that run at once on
    plain threads (numpy releases the GIL), which costs nothing between calls.
    """
    pool = _slice_pool()
    if pool is None or mat.size < SPLIT_CELLS:
        return mat @ q
    parts = _WORKERS + 1
    bounds = np.linspace(0, mat.shape[0], parts + 1, dtype=np.int64)
    out = np.empty(mat.shape[0], dtype=np.result_type(mat, q))

    def run(i: int) -> None:
        np.matmul(mat[bounds[i] : bounds[i + 1]], q, out=out[bounds[i] : bounds[i + 1]])

    futures = [pool.submit(run, i) for i in range(1, parts)]
    run(0)
    for future in futures:
        future.result()
    return out


class VectorPartition:
    """One scope's vectors as a matrix, with an optional projection for large scopes."""

    def __init__(self, dim: int, exact_max: int) -> None:
        self.dim = dim
        self.exact_max = exact_max
        self.rows = Rows()
        self.mat = np.zeros((0, dim), dtype=np.float32)
        self.pdim = max(8, min(PROJECTION_DIM, dim // 4))
        self.basis: np.ndarray | None = None  # (dim, pdim)
        self.proj = np.zeros((0, self.pdim), dtype=np.float32)

    @property
    def nbytes(self) -> int:
        return int(self.mat.nbytes + self.proj.nbytes)

    def put(self, memory: MemoryRecord, vec: np.ndarray | None) -> None:
        i = self.rows.pos.get(memory.id)
        if i is None:
            if vec is None:
                return  # not indexed yet; nothing to refresh
            i = self.rows.new_slot(memory)
            self.mat = grow(self.mat, self.rows.n)
        else:
            self.rows.update(i, memory)
        if vec is not None:
            self.mat[i] = vec
            if self.basis is not None:
                self.proj = grow(self.proj, self.rows.n)
                self.proj[i] = vec @ self.basis

    def drop(self, memory_id: str) -> None:
        self.rows.drop(memory_id)

    @property
    def wants_projection(self) -> bool:
        """Grown past ``exact_max`` without a projection (searches stay exact until it is built)."""
        return self.basis is None and self.rows.n > self.exact_max

    def principal_basis(self) -> np.ndarray:
        """The sample's top principal directions, ``(dim, pdim)``: eigenvectors of its Gram
        matrix, the right singular vectors an SVD gives at a fraction of the cost (about 60 ms
        for 4,096 × 512 against 300). Reads a snapshot: safe beside ``put``."""
        n, mat = self.rows.n, self.mat
        rng = np.random.default_rng(0)
        sample = mat[rng.choice(n, size=min(n, 4096), replace=False)].astype(np.float64)
        _, vectors = np.linalg.eigh(sample.T @ sample)  # ascending eigenvalues
        return np.ascontiguousarray(vectors[:, ::-1][:, : self.pdim], dtype=np.float32)

    def install(self, basis: np.ndarray) -> None:
        """Use ``basis``: project every row (hold the partition's lock)."""
        n = self.rows.n
        self.proj = np.zeros((self.mat.shape[0], self.pdim), dtype=np.float32)
        self.proj[:n] = self.mat[:n] @ basis
        self.basis = basis

    def build_projection(self) -> None:
        self.install(self.principal_basis())

    def search(
        self,
        q: np.ndarray,
        scope: Scope,
        limit: int,
        allowed: set[str] | None,
        also: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        best = self._best(q, scope, limit, allowed)
        return best + self._also(q, scope, allowed, also, best) if also else best

    def _best(
        self, q: np.ndarray, scope: Scope, limit: int, allowed: set[str] | None
    ) -> list[tuple[str, float]]:
        n = self.rows.n
        if allowed is not None and len(allowed) < n // 4:
            rows = self.rows.select(scope, allowed)
            return self.rows.top(matvec(self.mat[rows], q), np.ones(rows.size, dtype=bool), limit, rows)
        keep = self.rows.mask(scope, allowed)
        if self.basis is None or n <= self.exact_max:
            return self.rows.top(matvec(self.mat[:n], q), keep, limit)
        # Shortlist on the projection, then score the shortlist exactly.
        rough = matvec(self.proj[:n], self.basis.T @ q)
        rough[~keep] = -np.inf
        k = min(max(SHORTLIST, limit * SHORTLIST_PER_HIT), n)
        short = largest(rough, k)
        short = short[keep[short]]
        return self.rows.top(self.mat[short] @ q, np.ones(short.size, dtype=bool), limit, short)

    def _also(
        self,
        q: np.ndarray,
        scope: Scope,
        allowed: set[str] | None,
        also: Collection[str],
        best: list[tuple[str, float]],
    ) -> list[tuple[str, float]]:
        """Exact cosines of the ``also`` ids a search may return that ``best`` does not hold."""
        taken = {mid for mid, _ in best}
        wanted = {i for i in also if i not in taken and (allowed is None or i in allowed)}
        if not wanted:
            return []
        rows = self.rows.select(scope, wanted)
        if allowed is None:
            rows = rows[self.rows.live[rows]]  # a plain search returns current memories only
        if rows.size == 0:
            return []
        return self.rows.top(self.mat[rows] @ q, np.ones(rows.size, dtype=bool), int(rows.size), rows)


def largest(values: np.ndarray, k: int) -> np.ndarray:
    """The positions of the ``k`` largest ``values`` (1 <= k <= size), in no order; which of equal
    values at the cut is left to numpy, as :func:`numpy.argpartition` leaves it.

    A full ``argpartition`` of 100,000 scores took 0.8 ms of a search. A threshold read off a
    strided sample (the score about ``2k`` of them reach) keeps ``flatnonzero`` to a few thousand
    candidates, partitioned alone: 0.07 ms. Exact whatever the sample: every value above the
    threshold is a candidate, so when at least ``k`` are, the ``k`` largest are among them; else
    (an unlucky sample) the whole array is partitioned."""
    n = values.size
    if n <= 8 * k:
        return np.argpartition(values, n - k)[n - k :]
    step = n // (8 * k)
    sample = values[::step]
    above = min(sample.size - 1, 2 * k // step)  # sampled values above the threshold
    threshold = np.partition(sample, sample.size - 1 - above)[sample.size - 1 - above]
    candidates = np.flatnonzero(values >= threshold)
    if candidates.size < k:
        return np.argpartition(values, n - k)[n - k :]
    return candidates[np.argpartition(values[candidates], candidates.size - k)[candidates.size - k :]]


def _vector(blob: object, dim: int | None) -> np.ndarray | None:
    """A stored vector (float32 bytes), or None when the bytes cannot be one (not bytes, a length
    that is no whole number of float32s, or not ``dim`` of them): damage ``memoryd check`` reports."""
    if not isinstance(blob, bytes) or not blob or len(blob) % 4 or (dim is not None and len(blob) != dim * 4):
        return None
    return np.frombuffer(blob, dtype=np.float32)


class SQLiteVectorIndex:
    """Cosine search over in-memory partitions backed by SQLite rows."""

    outside_transaction = False  # its rows are in the record store's file and transaction

    def __init__(self, db: SQLiteDatabase, *, cache_bytes: int = 2 << 30, exact_max: int = 20000) -> None:
        self.db = db
        self.dim = 0
        self.model = ""
        self.exact_max = exact_max
        self.cache: PartitionCache[VectorPartition] = PartitionCache(
            self._load, cache_bytes, db, reread=self._reread
        )
        self._builds: dict[int, asyncio.Future[None]] = {}  # id(partition): its projection's build

    @classmethod
    def from_resources(cls, resources: Resources) -> SQLiteVectorIndex:
        cfg = resources.settings.storage
        return cls(resources.sqlite(), cache_bytes=cfg.vector_cache_mb << 20, exact_max=cfg.exact_search_max)

    async def recorded(self) -> tuple[str, int] | None:
        self.db.open()

        def op(conn: sqlite3.Connection) -> tuple[str, int] | None:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "vectors" not in tables and holds_rows_without(conn, ("vectors",)):
                raise index_gone("vectors", str(self.db.path))  # dropped under a running store: /health
            if (
                not {"vectors", "vector_meta"} <= tables
                or conn.execute("SELECT 1 FROM vectors LIMIT 1").fetchone() is None
            ):
                return None
            meta = dict(conn.execute("SELECT key, value FROM vector_meta").fetchall())
            model, dim = meta.get("model"), meta.get("dim")
            return (str(model), int(dim)) if model and dim and str(dim).isdigit() else None

        return await self.db.read(op)

    async def open(self, model: str, dim: int, *, rebuild: bool = False, store: str | None = None) -> None:
        self.db.open()  # ``store``: the table is in the store's own file, nobody else's

        def op(conn: sqlite3.Connection) -> tuple[str | None, str | None, int] | str:
            if rebuild:
                conn.execute("DROP TABLE IF EXISTS vectors")
                conn.execute("DROP TABLE IF EXISTS vector_meta")
            elif holds_rows_without(conn, ("vectors",)):
                return "missing"  # memories without their index: never recreate it empty
            for statement in _SCHEMA:
                conn.execute(statement)
            meta = dict(conn.execute("SELECT key, value FROM vector_meta").fetchall())
            if meta.get("rebuilding"):
                return "rebuilding"
            count = conn.execute("SELECT count(*) FROM vectors").fetchone()[0]
            if not meta or count == 0:
                conn.execute("INSERT OR REPLACE INTO vector_meta VALUES ('model', ?)", (model,))
                conn.execute("INSERT OR REPLACE INTO vector_meta VALUES ('dim', ?)", (str(dim),))
                if rebuild:
                    conn.execute("INSERT OR REPLACE INTO vector_meta VALUES ('rebuilding', '1')")
                return model, str(dim), count
            return meta.get("model"), meta.get("dim"), count

        opened = await self.db.write(op)
        if opened == "missing":
            raise index_gone("vectors", str(self.db.path))
        if opened == "rebuilding":
            raise StorageError(
                f"the vector index of {self.db.path} is incomplete (a `memoryd reindex` did not finish): "
                "run `memoryd reindex` again",
                field="storage.vectors",
                repair="memoryd reindex",
            )
        assert not isinstance(opened, str)
        stored_model, stored_dim, count = opened
        if stored_model != model or stored_dim != str(dim):
            raise embedder_mismatch(str(self.db.path), count, stored_model, stored_dim, model, dim)
        self.model, self.dim = model, dim
        self.cache.clear()

    def _still_its_model(self, conn: sqlite3.Connection, then: str) -> None:
        """:class:`StorageError` unless the index is still of the model it was opened with: a
        `memoryd reindex` with another model, run while this process had it open, moved it (a
        vector written now would be of the old model, among the new model's)."""
        meta = dict(conn.execute("SELECT key, value FROM vector_meta WHERE key IN ('model', 'dim')"))
        if meta.get("model") == self.model and meta.get("dim") == str(self.dim):
            return
        stored = (meta.get("model"), meta.get("dim"))
        raise moved_meanwhile(str(self.db.path), stored, (self.model, self.dim), then)

    async def rebuilt(self) -> None:
        await self.db.write(lambda conn: conn.execute("DELETE FROM vector_meta WHERE key = 'rebuilding'"))

    async def close(self) -> None:
        self.cache.clear()
        self.db.close()

    async def apply(self, changes: ChangeSet) -> None:
        rows, meta_only = [], []
        for item in changes.upserts:
            m = item.memory
            valid_to = m.valid_to.timestamp() if m.valid_to else None
            if item.vector is None:
                meta_only.append((m.user_id, m.agent_id, m.run_id, valid_to, m.id))
            else:
                vec = np.ascontiguousarray(item.vector, dtype=np.float32)
                rows.append((m.id, m.user_id, m.agent_id, m.run_id, valid_to, vec.tobytes()))
        deletes = [(i,) for i in changes.deletes]
        if not rows and not meta_only and not deletes:
            return

        def op(conn: sqlite3.Connection) -> None:
            if rows:
                self._still_its_model(conn, "Nothing was written; restart")
            conn.executemany(
                "INSERT INTO vectors (memory_id, user_id, agent_id, run_id, valid_to, vec) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(memory_id) DO UPDATE SET "
                "user_id=excluded.user_id, agent_id=excluded.agent_id, run_id=excluded.run_id, "
                "valid_to=excluded.valid_to, vec=excluded.vec",
                rows,
            )
            conn.executemany(
                "UPDATE vectors SET user_id=?, agent_id=?, run_id=?, valid_to=? WHERE memory_id=?", meta_only
            )
            gone = []
            for start in range(0, len(deletes), 500):
                chunk = [d[0] for d in deletes[start : start + 500]]
                gone += conn.execute(
                    f"DELETE FROM vectors WHERE memory_id IN ({','.join('?' * len(chunk))}) "
                    "RETURNING user_id, agent_id, run_id, memory_id",
                    chunk,
                ).fetchall()
            changes_log.touch(conn, [(r[1], r[2], r[3], r[0]) for r in rows])  # other processes' caches
            changes_log.touch(conn, [(r[0], r[1], r[2], r[4]) for r in meta_only])
            changes_log.touch(conn, gone)

        upserts = [(s.memory, s.vector) for s in changes.upserts]
        await self.db.write(op, after_commit=lambda: self.cache.refresh(upserts, changes.deletes))

    def _reread(self, conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, tuple[RowStub, np.ndarray]]:
        """The current rows of these memories (another process wrote them)."""
        out: dict[str, tuple[RowStub, np.ndarray]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for r in conn.execute(
                "SELECT memory_id, user_id, agent_id, run_id, valid_to, vec FROM vectors "
                f"WHERE memory_id IN ({','.join('?' * len(chunk))})",
                chunk,
            ):
                vec = _vector(r[5], self.dim)
                if vec is None or not np.isfinite(vec).all():
                    message = f"the vector of memory {r[0]} is damaged; {REPAIR}"
                    raise StorageError(message, field="storage.vectors")
                out[r[0]] = (RowStub(r[0], r[1], r[2], r[3], r[4]), vec)
        return out

    async def _load(self, key: PartitionKey) -> VectorPartition:
        field, value = key
        dim, exact_max = self.dim, self.exact_max

        def load(conn: sqlite3.Connection) -> VectorPartition:
            part = VectorPartition(dim, exact_max)
            cursor = conn.execute(
                f"SELECT memory_id, user_id, agent_id, run_id, valid_to, vec FROM vectors WHERE {field} = ? "
                "ORDER BY rowid",
                (value,),
            )
            rows = cursor.fetchall()
            bad = [r[0] for r in rows if not isinstance(r[5], bytes) or len(r[5]) != dim * 4]
            if bad:
                self._still_its_model(conn, "Restart")  # not damage: another model's, since it was opened
                raise StorageError(
                    f"the vector index is damaged: {len(bad)} vectors of {field} {value!r} are not "
                    f"{dim} float32 numbers (e.g. memory {bad[0]}); {REPAIR}",
                    field="storage.vectors",
                    repair="memoryd reindex",
                )
            part.mat = np.zeros((max(64, len(rows)), dim), dtype=np.float32)
            if rows:
                part.mat[: len(rows)] = np.frombuffer(b"".join(r[5] for r in rows), dtype=np.float32).reshape(
                    len(rows), dim
                )
                if not np.isfinite(part.mat[: len(rows)]).all():
                    raise StorageError(
                        f"the vector index is damaged: vectors of {field} {value!r} hold numbers that are "
                        f"not finite; {REPAIR}",
                        field="storage.vectors",
                        repair="memoryd reindex",
                    )
            part.rows.extend([RowStub(r[0], r[1], r[2], r[3], r[4]) for r in rows])  # type: ignore[misc]
            return part  # past exact_max, searched exactly until its projection is built (search)

        return await self.db.read(load)

    async def search(
        self,
        vector: np.ndarray,
        *,
        scope: Scope,
        limit: int,
        allowed: set[str] | None = None,
        also: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        if (limit <= 0 and not also) or (allowed is not None and not allowed):
            return []
        part = await self.cache.get(partition_key(scope))
        q = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)

        def run() -> list[tuple[str, float]]:
            with self.cache.lock:
                return part.search(q, scope, limit, allowed, also)

        if part.wants_projection and id(part) not in self._builds:
            self._project_later(part)
        if part.rows.n < OFFLOAD_ROWS or (allowed is not None and len(allowed) < OFFLOAD_ROWS):
            return run()  # microseconds: cheaper than a thread hop
        return await self.db.offload(run)

    def _project_later(self, part: VectorPartition) -> None:
        """Build a grown partition's projection on a reader thread; it is used once installed."""
        key = id(part)

        def build() -> None:
            basis = part.principal_basis()
            with self.cache.lock:
                part.install(basis)
                self.cache.measure(part)  # its projection's bytes count against the budget

        task = self._builds[key] = asyncio.ensure_future(self.db.offload(build))

        def done(t: asyncio.Future[None]) -> None:
            del self._builds[key]
            if not t.cancelled() and t.exception() is not None:
                log.warning("building a vector projection failed: %s", t.exception())

        task.add_done_callback(done)

    async def reset(self) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM vectors")
            changes_log.touch_everything(conn)

        await self.db.write(op, after_commit=self.cache.clear)

    # -- listing and checking (export, memoryd check) -----------------------------
    async def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(ids))

        def op(conn: sqlite3.Connection) -> dict[str, np.ndarray]:
            out: dict[str, np.ndarray] = {}
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for memory_id, vec in conn.execute(
                    f"SELECT memory_id, vec FROM vectors WHERE memory_id IN ({marks})", chunk
                ):
                    if (read := _vector(vec, None)) is not None:  # damaged bytes: no vector (check says so)
                        out[memory_id] = read.copy()
            return out

        return await self.db.read(op)

    async def entries(self, *, after: str | None = None, limit: int = 1000) -> list[IndexEntry]:
        def op(conn: sqlite3.Connection) -> list[IndexEntry]:
            rows = conn.execute(
                "SELECT memory_id, user_id, agent_id, run_id, valid_to FROM vectors WHERE memory_id > ? "
                "ORDER BY memory_id LIMIT ?",
                (after or "", limit),
            )
            return [IndexEntry(r[0], r[1], r[2], r[3], from_epoch(r[4])) for r in rows]

        return await self.db.read(op)

    async def check(self) -> list[str]:
        dim = self.dim

        def op(conn: sqlite3.Connection) -> list[str]:
            problems: list[str] = []
            meta = dict(conn.execute("SELECT key, value FROM vector_meta").fetchall())
            if meta.get("rebuilding"):
                problems.append("the vector index is incomplete: a `memoryd reindex` did not finish")
            sized = conn.execute(
                "SELECT count(*), min(memory_id) FROM vectors "
                "WHERE typeof(vec) != 'blob' OR length(vec) != ?",
                (dim * 4,),
            ).fetchone()
            if sized[0]:
                are = "vector is" if sized[0] == 1 else "vectors are"
                problems.append(f"{sized[0]} {are} not {dim} float32 numbers (e.g. memory {sized[1]})")
            bad, example, last = 0, None, 0
            while True:  # values: finite and unit length (a zero vector matches nothing), a chunk at a time
                rows = conn.execute(
                    "SELECT rowid, memory_id, vec FROM vectors WHERE rowid > ? AND length(vec) = ? "
                    "ORDER BY rowid LIMIT 4096",
                    (last, dim * 4),
                ).fetchall()
                if not rows:
                    break
                last = rows[-1][0]
                mat = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), dim)
                with np.errstate(all="ignore"):
                    norms = np.linalg.norm(mat, axis=1)
                wrong = ~(np.isfinite(norms) & (np.abs(norms - 1) < 1e-3))
                if wrong.any():
                    bad += int(wrong.sum())
                    example = example or rows[int(np.flatnonzero(wrong)[0])][1]
            if bad:
                what = "vector is" if bad == 1 else "vectors are"
                problems.append(f"{bad} {what} not finite, unit length (e.g. memory {example})")
            return problems

        return await self.db.read(op)
