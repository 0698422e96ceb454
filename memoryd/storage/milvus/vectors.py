"""The Milvus vector index: a Milvus server, or Milvus Lite in a file.

- One collection per store (a tenant's store gets its own, see ``Settings.for_tenant``), cosine
  metric, strong consistency, one row per memory: its key is the memory's id when that is a
  canonical UUID, else a UUID derived from it; its fields the memory id, the scope (``""`` for a
  field not set: a scope never names an empty id), whether it is current and when it stopped
  being so.
- A row with a reserved key and no scope records the embedding model (as JSON in its
  ``memory_id``): another model's vectors are refused, a half-done rebuild too.
- Writes are written last, just before the record store commits (see
  :meth:`memoryd.storage.Storage.commit`): a Milvus that fails or is down fails the write (503)
  and the records keep nothing of it. Milvus has no transaction to join; a write is up to three
  calls (upsert, relabel, delete), so a failure or crash between them leaves Milvus ahead of
  the records for that unacknowledged write: search never returns a row whose record is missing
  or not current, ``memoryd check`` reports the difference, ``memoryd reindex`` repairs it.
- The client is synchronous: its calls run on one thread of their own, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException
from pymilvus.client.types import LoadState

from memoryd.config import MilvusConfig
from memoryd.errors import InvalidInputError, MemorydError, MissingExtraError, StorageError
from memoryd.models import Scope, from_epoch
from memoryd.redact import mask_url
from memoryd.storage.base import ChangeSet
from memoryd.storage.outside import META_ID, Listing, OutsideIndex, located, point_id, ties_by_id
from memoryd.storage.portable import IndexEntry
from memoryd.storage.resources import Resources

__all__ = ["MilvusVectorIndex"]

log = logging.getLogger("memoryd.storage")

_TEXT = 65535  # VARCHAR's largest size
_FLUSH_AFTER_S = 1.0  # Milvus Lite: seal new rows this long after the last write (see _flush_soon)
_FLUSH_ROWS = 4096  # or at once, after this many
_MAX_LIMIT = 16384  # the most rows one Milvus search or query returns
_FIELDS = ["memory_id", "user_id", "agent_id", "run_id", "current", "valid_to"]
_NOT_META = f"pk != {json.dumps(META_ID)}"
# Every server call has the deadline storage.milvus.timeout: pymilvus gives a call none unless told,
# and a server that stops answering (a partition, a hung host) left it waiting for ever. Loading a
# collection, which may take far longer on a large one, is asked for, then waited for by asking how
# far it got, each question with that deadline (see MilvusVectorIndex._load).
_LOAD_POLL_S = 0.2
_LOADED = LoadState.Loaded
# Milvus Lite's local socket needs no keep-alive, and its server answers pymilvus's pings every
# 10 s with GOAWAY "too_many_pings" (logged by gRPC on stderr): none are sent.
_LOCAL_GRPC = {"grpc.keepalive_time_ms": 2**31 - 1, "grpc.keepalive_permit_without_calls": False}


_ESCAPES = str.maketrans({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _literal(value: str) -> str:
    """A string as a Milvus expression literal. Milvus reads only these escapes (``\\uXXXX``,
    ``\\b`` and ``\\f`` are errors); every other character, control characters included,
    stands for itself between the quotes."""
    return '"' + value.translate(_ESCAPES) + '"'


def _said(exc: BaseException) -> str:
    """What ``exc`` says: pymilvus's exceptions print as ``<MilvusException: (code=2, message=...)>``,
    only their message is told (any URL in it with its password masked)."""
    if isinstance(exc, MilvusException):
        return mask_url(str(exc.message or "").strip()) or f"{type(exc).__name__} (code {exc.code})"
    return str(exc)


# Held while a store of this process starts, joins or stops a Milvus Lite server: two starting
# one file's at once, the second found the file locked by the first and failed ("Open local milvus
# failed"), and a store joining a server the last one out was stopping got a dead one.
_lite_lock = threading.RLock()
_lite_open: dict[str, int] = {}  # Milvus Lite file -> stores of this process that have it open


def _lite_users(path: Path, change: int) -> None:
    """Count this process's stores on a Milvus Lite file; the last one to close stops its server
    (pymilvus runs it in this process, holding the file's lock, until told or until exit)."""
    key = str(path.resolve())
    with _lite_lock:
        users = _lite_open.get(key, 0) + change
        if users > 0:
            _lite_open[key] = users
            return
        _lite_open.pop(key, None)
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(str(path))


def _need_lite() -> None:
    """Local mode runs Milvus Lite, a package of its own (memoryd[milvus] installs it; pymilvus
    alone does not): missing, it is named here, before anything starts."""
    try:
        import milvus_lite  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            "milvus", "storage.vectors = 'milvus' in local mode (no storage.milvus.uri: Milvus Lite)"
        ) from None


def _report_flush(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("sealing Milvus Lite's new rows failed (searches stay slower): %s", task.exception())


def _index_type(config: MilvusConfig) -> str:
    """A server's AUTOINDEX, or Milvus Lite's exact FLAT (see MilvusVectorIndex._index_params)."""
    return "AUTOINDEX" if config.uri else "FLAT"


class MilvusVectorIndex(OutsideIndex):
    """Cosine search in a Milvus collection, restricted to a scope by a filter expression."""

    engine = "Milvus"
    owner_setting = "storage.milvus.collection"

    def __init__(self, config: MilvusConfig, local_path: Path) -> None:
        if not config.uri:
            _need_lite()
        self.config = config
        self.collection = config.collection
        self.local_path = config.path or local_path
        what = f"the Milvus collection {self.collection}"
        super().__init__(*located(config.uri, "storage.milvus.uri", self.local_path, what))
        self._client: MilvusClient | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="memoryd-milvus")
        self._listing = Listing(self._all_entries)
        self._loaded = False  # load_collection done since the collection was last made or found
        self._flush_due: asyncio.TimerHandle | None = None  # see _flush_soon
        self._unflushed = 0
        # pymilvus and Milvus Lite log each failure with its traceback: memoryd reports them itself
        for name in ("pymilvus", "milvus_lite"):
            logging.getLogger(name).setLevel(logging.CRITICAL)

    @classmethod
    def from_resources(cls, resources: Resources) -> MilvusVectorIndex:
        storage = resources.settings.storage
        return cls(storage.milvus, storage.path.with_name(storage.path.name + ".milvus.db"))

    # -- connection ----------------------------------------------------------------
    def _connect(self) -> MilvusClient:
        if self._client is None:
            self._not_closed()
            cfg = self.config
            if cfg.uri:
                token = cfg.token.get_secret_value() if cfg.token else ""
                self._client = MilvusClient(uri=cfg.uri, token=token, timeout=cfg.timeout)
            else:
                self.local_path.parent.mkdir(parents=True, exist_ok=True)
                with _lite_lock:  # one store of this process at a time starts (or joins) its server
                    try:
                        self._client = MilvusClient(str(self.local_path), grpc_options=_LOCAL_GRPC)
                    except Exception as exc:
                        raise RuntimeError(
                            f"{_said(exc)} (Milvus Lite lets one process at a time open its file: for more, "
                            "run a Milvus server and set storage.milvus.uri)"
                        ) from exc
                    _lite_users(self.local_path, +1)
        return self._client

    def _fail(self, exc: BaseException, doing: str) -> StorageError:
        """The engine failing (503), in a plain message naming the server (see :func:`_said`)."""
        if isinstance(exc, grpc.RpcError) and exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            # a gRPC error prints on many lines, its first "<_InactiveRpcError of RPC that terminated with:"
            exc = RuntimeError(f"no answer within {self.config.timeout:g} s (storage.milvus.timeout)")
        return super()._fail(RuntimeError(_said(exc)) if isinstance(exc, MilvusException) else exc, doing)

    @property
    def _per_call(self) -> float | None:
        """A server call's deadline (``storage.milvus.timeout``); Milvus Lite runs in this process."""
        return self.config.timeout if self.config.uri else None

    async def _call(self, doing: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``client.method(...)`` on the client's thread, with the server call's deadline; a failure
        is the backend down (503)."""
        kwargs.setdefault("timeout", self._per_call)
        return await self._run(doing, lambda: getattr(self._connect(), method)(*args, **kwargs))

    async def _run(self, doing: str, work: Callable[[], Any]) -> Any:
        """``work()`` (client calls) on the client's thread; a failure is the backend down (503)."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, work)
        except MemorydError:
            raise
        except Exception as exc:
            raise self._fail(exc, doing) from exc

    async def _exists(self) -> bool:
        """Whether the collection is there; loaded when it is (Milvus answers nothing else about a
        collection a new process finds released)."""
        if not await self._call("looking for the collection", "has_collection", self.collection):
            return False
        if not self._loaded:  # once per collection found: the schema checked, the rows loaded
            info = await self._call("reading the collection", "describe_collection", self.collection)
            if {f.get("name") for f in info.get("fields", [])} != {"pk", *_FIELDS, "vector"}:
                raise self._foreign()  # another program's collection (its rows cannot even be read as ours)
            await self._exact_in_lite()
            await self._load()
            self._loaded = True
        return True

    async def _load(self) -> None:
        """Load the collection: asked for (pymilvus's load_collection waits for the whole load within
        its deadline, or for ever without one), then its state asked until it is loaded. A server
        loading a large collection is waited for as long as it answers; one that stops answering
        fails a question within storage.milvus.timeout (503)."""
        doing = "loading the collection"
        await self._call(doing, "load_collection", self.collection, _async=True)
        while (state := (await self._call(doing, "get_load_state", self.collection))["state"]) != _LOADED:
            if state != LoadState.Loading:  # released or dropped meanwhile, or the load failed
                raise self._fail(RuntimeError(f"the collection is {state.name}, not loaded"), doing)
            await asyncio.sleep(_LOAD_POLL_S)

    def _lite_alone(self) -> contextlib.AbstractContextManager[Any]:
        """Held (Milvus Lite) while this store makes its collection: two stores of a process making
        it at once in Lite's server failed ("File exists"). A server: nothing to hold."""
        return contextlib.nullcontext() if self.config.uri else _lite_lock

    async def _meta(self) -> dict[str, Any] | None:
        """The model record, None when the collection or the record is missing."""
        if not await self._exists():
            return None
        found = await self._call("reading the model record", "get", self.collection, ids=[META_ID])
        if not found:
            return None
        try:
            meta = json.loads(found[0].get("memory_id") or "")
        except ValueError:
            return None
        return meta if isinstance(meta, dict) else None

    async def _count(self) -> int:
        found = await self._call(
            "counting vectors", "query", self.collection, filter=_NOT_META, output_fields=["count(*)"]
        )
        return int(found[0]["count(*)"]) if found else 0

    async def _write_meta(self, model: str, dim: int, *, rebuilding: bool) -> None:
        record = json.dumps({"model": model, "dim": dim, "rebuilding": rebuilding, "store": self.store,
                             "import": self.claim.to_dict() if self.claim else None})  # fmt: skip
        row: dict[str, Any] = {"pk": META_ID, "memory_id": record, "current": False, "valid_to": 0.0}
        row |= {"user_id": "", "agent_id": "", "run_id": "", "vector": [1.0] + [0.0] * (dim - 1)}
        await self._call("recording the model", "upsert", self.collection, [row])

    async def _create(self, dim: int) -> None:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
        for name in ("memory_id", "user_id", "agent_id", "run_id"):
            schema.add_field(name, DataType.VARCHAR, max_length=_TEXT)
        schema.add_field("current", DataType.BOOL)
        schema.add_field("valid_to", DataType.DOUBLE)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)

        def create() -> None:
            with self._lite_alone():
                params = self._index_params()
                self._connect().create_collection(
                    self.collection, schema=schema, index_params=params, consistency_level="Strong",
                    timeout=self._per_call,  # its index made and (empty) loaded within it too
                )  # fmt: skip

        try:
            await self._run("creating the collection", create)
        except StorageError:  # another store opening this file (server) at the same moment made it
            if not await self._exists():
                raise

    def _index_params(self) -> Any:
        """The vector field's index: a Milvus server's AUTOINDEX (its own choice, HNSW-like: fast,
        approximate, high recall); Milvus Lite's exact FLAT. Lite's AUTOINDEX over sealed rows
        missed a quarter of a user's memories (54 of 75 with a limit of 200, some of the exact top
        20 among them) in a store imported here; FLAT returned every one, in the exact order."""
        index = MilvusClient.prepare_index_params()
        index.add_index(field_name="vector", index_type=_index_type(self.config), metric_type="COSINE")
        return index

    async def _exact_in_lite(self) -> None:
        """A Milvus Lite collection an earlier memoryd made with AUTOINDEX is given FLAT (see
        :meth:`_index_params`): its index is dropped and made again, the rows kept."""
        if self.config.uri:
            return
        info = await self._call("reading the index", "describe_index", self.collection, "vector")
        if (info or {}).get("index_type") in (None, _index_type(self.config)):
            return
        log.info("Milvus Lite collection %s: its vector index becomes FLAT (exact search)", self.collection)
        await self._call("releasing the collection", "release_collection", self.collection)
        await self._call("dropping the approximate index", "drop_index", self.collection, "vector")
        await self._call("making the exact index", "create_index", self.collection, self._index_params())

    async def _size(self) -> int | None:
        info = await self._call("reading the collection", "describe_collection", self.collection)
        for field in info.get("fields", []):
            if field.get("name") == "vector":
                return int(field.get("params", {}).get("dim", 0)) or None
        return None

    # -- the VectorIndex role ---------------------------------------------------------
    async def drop(self) -> None:
        """Drop the collection, model record included (a rebuild starts from nothing)."""
        self._listing.forget()
        if await self._exists():
            await self._call("dropping the collection", "drop_collection", self.collection)
        self._loaded = False

    def _opened(self) -> None:
        self._listing.forget()

    async def ping(self) -> None:
        if self.config.uri:
            await self._call("reaching the server", "has_collection", self.collection)

    async def _local_empty(self) -> bool:
        return not await self._call("listing the collections", "list_collections")

    def _remove_local(self) -> None:
        with _lite_lock:
            if str(self.local_path.resolve()) in _lite_open:  # another store of this process has it
                return
        if self.local_path.is_dir():  # Milvus Lite's "file" is a folder (2.5)
            shutil.rmtree(self.local_path, ignore_errors=True)
        else:
            self.local_path.unlink(missing_ok=True)

    async def close(self) -> None:
        self._listing.forget()
        if self._flush_due is not None:  # sealed now: the next process searches them fast too
            self._flush_due.cancel()
            self._flush_due = None
            with contextlib.suppress(StorageError):
                await self._call("flushing", "flush", self.collection)
        self.closed, self._loaded = True, False  # a client made again loads the collection again
        client, self._client = self._client, None
        thread, self._thread = self._thread, ThreadPoolExecutor(1, thread_name_prefix="memoryd-milvus")
        if client is not None:

            def release() -> None:
                client.close()
                if not self.config.uri:
                    _lite_users(self.local_path, -1)

            await asyncio.get_running_loop().run_in_executor(thread, release)
        thread.shutdown(wait=False)

    def _flush_soon(self) -> None:
        """Milvus Lite searches rows still in a growing segment about 10x slower than sealed ones
        (300 ms against 20-50 ms for 10,000 here): a second after the writes stop, or sooner
        after many rows, it seals them, on the client's thread and off any write's path. (Rows
        are already stored: a flush only seals them. A Milvus server seals on its own.)"""
        if self.config.uri:
            return
        loop = asyncio.get_running_loop()
        if self._flush_due is not None:
            if self._unflushed < _FLUSH_ROWS:
                return
            self._flush_due.cancel()
        delay = 0.0 if self._unflushed >= _FLUSH_ROWS else _FLUSH_AFTER_S
        self._flush_due = loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        self._flush_due, self._unflushed = None, 0
        task = asyncio.ensure_future(self._call("flushing", "flush", self.collection))
        task.add_done_callback(_report_flush)

    async def apply(self, changes: ChangeSet) -> None:
        rows, relabel = [], {}
        for item in changes.upserts:
            m = item.memory
            row = {
                "pk": point_id(m.id),
                "memory_id": m.id,
                "user_id": m.user_id or "",
                "agent_id": m.agent_id or "",
                "run_id": m.run_id or "",
                "current": m.valid_to is None,
                "valid_to": m.valid_to.timestamp() if m.valid_to else 0.0,
            }
            if item.vector is None:
                relabel[row["pk"]] = row  # the text is unchanged: scope and validity only
            else:
                rows.append(row | {"vector": np.asarray(item.vector, dtype=np.float32).reshape(-1).tolist()})
        if rows or relabel or changes.deletes:
            self._listing.forget()
        if rows:
            await self._still_its_model()
            await self._call("writing vectors", "upsert", self.collection, rows)
        if relabel:  # as an UPDATE of no row, a memory not indexed stays absent
            ids = list(relabel)
            found = await self._call("reading rows", "get", self.collection, ids=ids, output_fields=["pk"])
            if present := [relabel[r["pk"]] for r in found]:
                await self._call("relabelling", "upsert", self.collection, present, partial_update=True)
        if changes.deletes:
            gone = [point_id(i) for i in changes.deletes]
            await self._call("deleting vectors", "delete", self.collection, ids=gone)
        self._unflushed += len(rows)
        self._flush_soon()

    async def _nearest(
        self, query: np.ndarray, scope: Scope, limit: int, allowed: set[str] | None, only: set[str] | None
    ) -> list[tuple[str, float]]:
        if only is not None and len(only) > _MAX_LIMIT:  # the ids asked for, a Milvus-sized share at a time
            ordered = sorted(only)
            shares = [set(ordered[i : i + _MAX_LIMIT]) for i in range(0, len(ordered), _MAX_LIMIT)]
            hits = []
            for share in shares:
                hits += await self._nearest(query, scope, len(share), allowed, share)
            return sorted(hits, key=lambda h: (-h[1], h[0]))
        if limit > _MAX_LIMIT:
            raise InvalidInputError(
                f"limit is {limit}; with storage.vectors = 'milvus' a search returns at most {_MAX_LIMIT}",
                field="limit",
            )
        terms = [f"{field} == {_literal(value)}" for field, value in scope.items()]
        if allowed is None:  # current memories only
            terms.append("current == true")
        ids = only if only is not None else allowed
        if ids is not None:
            terms.append(f"pk in {json.dumps(sorted(point_id(i) for i in ids))}")

        async def best(n: int) -> list[tuple[str, float]]:
            found = await self._call(
                "searching",
                "search",
                self.collection,
                data=[query.tolist()],
                limit=n,
                filter=" and ".join(terms),
                output_fields=["memory_id"],
                search_params={"metric_type": "COSINE"},
            )
            hits = found[0] if found else []
            return [(str(h["entity"]["memory_id"]), float(h["distance"])) for h in hits]

        return await ties_by_id(best, limit, _MAX_LIMIT)

    async def reset(self) -> None:
        self._listing.forget()
        await self._call("deleting every vector", "delete", self.collection, filter=_NOT_META)

    # -- listing and checking (export, memoryd check) ------------------------------------
    async def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(ids))
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(wanted), 500):
            chunk = [point_id(i) for i in wanted[start : start + 500]]
            found = await self._call(
                "reading vectors", "get", self.collection, ids=chunk, output_fields=["memory_id", "vector"]
            )
            for row in found:
                out[str(row["memory_id"])] = np.asarray(row["vector"], dtype=np.float32)
        return out

    async def _all_entries(self) -> list[IndexEntry]:
        def read() -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = []
            pages = self._connect().query_iterator(
                self.collection,
                batch_size=1000,
                filter=_NOT_META,
                output_fields=_FIELDS,
                timeout=self._per_call,
            )
            try:
                while page := pages.next():
                    rows.extend(page)
            finally:
                pages.close()
            return rows

        rows = await self._run("listing rows", read)
        return [
            IndexEntry(
                str(r["memory_id"]),
                r["user_id"] or None,
                r["agent_id"] or None,
                r["run_id"] or None,
                None if r["current"] else from_epoch(float(r["valid_to"])),
            )  # fmt: skip
            for r in rows
        ]

    async def entries(self, *, after: str | None = None, limit: int = 1000) -> list[IndexEntry]:
        return await self._listing.page(after, limit)
