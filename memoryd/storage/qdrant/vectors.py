"""The Qdrant vector index: a Qdrant server, or Qdrant's local mode in a folder.

- One collection per store (a tenant's store gets its own, see ``Settings.for_tenant``), cosine
  distance, one point per memory. A point's id is its memory's id when that is a canonical UUID
  (memoryd's own ids are), else a UUID derived from it; its payload holds the memory id, the
  scope and the end of validity, with keyword indexes on the scope fields (server).
- A point with a fixed id and no scope records the embedding model, as the embedded index's
  ``vector_meta`` table does: another model's vectors are refused, a half-done rebuild too.
- Writes join the store's write: :meth:`memoryd.storage.Storage.commit` applies them inside the
  record store's transaction, before it commits, in one Qdrant request; a Qdrant that fails or is
  down fails the write (503) and the records keep nothing of it. Qdrant has no transaction to
  join, so a process killed between the two leaves Qdrant ahead of the records for that one
  unacknowledged write: search never returns a point whose record is missing or not current,
  ``memoryd check`` reports the difference and ``memoryd reindex`` rebuilds the index.
- Local mode (no ``storage.qdrant.url``) keeps the collection in ``storage.qdrant.path`` and
  lets one process at a time open it: for a server and its workers, run a Qdrant server.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import AsyncQdrantClient, models

from memoryd.config import QdrantConfig
from memoryd.errors import MemorydError
from memoryd.models import Scope, from_epoch
from memoryd.storage.base import ChangeSet
from memoryd.storage.outside import META_ID, REPAIR, Listing, OutsideIndex, located, point_id, ties_by_id
from memoryd.storage.portable import IndexEntry
from memoryd.storage.resources import Resources

__all__ = ["QdrantVectorIndex"]

_SCOPE = ("user_id", "agent_id", "run_id")
_PAGE = 1000


def _locked(folder: Path) -> bool:
    """Whether a local-mode client holds ``folder`` (the lock Qdrant's local mode takes)."""
    import portalocker  # qdrant-client's own dependency, for the same lock

    lock = folder / ".lock"
    if not lock.exists():
        return False
    with lock.open("r+") as handle:
        try:
            portalocker.lock(handle, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
        except portalocker.exceptions.LockException:
            return True
        portalocker.unlock(handle)
    return False


def _not_meta() -> models.Filter:
    return models.Filter(must_not=[models.HasIdCondition(has_id=[META_ID])])


class QdrantVectorIndex(OutsideIndex):
    """Cosine search in a Qdrant collection, restricted to a scope by payload filters."""

    engine = "Qdrant"
    owner_setting = "storage.qdrant.collection"

    def __init__(self, config: QdrantConfig, local_path: Path) -> None:
        self.config = config
        self.collection = config.collection
        self.local_path = config.path or local_path
        what = f"the Qdrant collection {self.collection}"
        super().__init__(*located(config.url, "storage.qdrant.url", self.local_path, what))
        self._client: AsyncQdrantClient | None = None
        self._listing = Listing(self._all_entries)

    @classmethod
    def from_resources(cls, resources: Resources) -> QdrantVectorIndex:
        storage = resources.settings.storage
        return cls(storage.qdrant, storage.path.with_name(storage.path.name + ".qdrant"))

    # -- connection ----------------------------------------------------------------
    async def _connect(self) -> AsyncQdrantClient:
        if self._client is None:
            self._not_closed()
            cfg = self.config
            try:
                if cfg.url:
                    key = cfg.api_key.get_secret_value() if cfg.api_key else None
                    client = AsyncQdrantClient(
                        url=cfg.url, api_key=key, timeout=math.ceil(cfg.timeout), check_compatibility=False
                    )
                else:
                    self.local_path.mkdir(parents=True, exist_ok=True)
                    if _locked(self.local_path):  # asked first: a refused client leaks its lock file
                        raise RuntimeError(
                            f"local mode's folder {self.local_path} is open in another process (or store); "
                            "local mode is one process at a time: for more, run a Qdrant server and set "
                            "storage.qdrant.url"
                        )
                    client = AsyncQdrantClient(path=str(self.local_path))
            except Exception as exc:  # local mode: the folder is another process's, or unreadable
                raise self._fail(exc, "opening the collection folder") from exc
            self._client = client
        return self._client

    async def _call(self, doing: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``client.method(collection, ...)``, with a failure reported as the backend down (503)."""
        client = await self._connect()
        try:
            return await getattr(client, method)(self.collection, *args, **kwargs)
        except MemorydError:
            raise
        except Exception as exc:
            raise self._fail(exc, doing) from exc

    async def _meta(self) -> dict[str, Any] | None:
        """The model record, None when the collection or the record is missing."""
        if not await self._exists():
            return None
        found = await self._call("reading the model record", "retrieve", [META_ID], with_payload=True)
        return dict(found[0].payload or {}) if found else None

    async def _exists(self) -> bool:
        return bool(await self._call("looking for the collection", "collection_exists"))

    async def _count(self) -> int:
        found = await self._call("counting vectors", "count", count_filter=_not_meta(), exact=True)
        return int(found.count)

    async def _size(self) -> int | None:
        info = await self._call("reading the collection", "get_collection")
        return getattr(info.config.params.vectors, "size", None)

    async def _write_meta(self, model: str, dim: int, *, rebuilding: bool) -> None:
        marker = [1.0] + [0.0] * (dim - 1)  # cosine needs a direction; no scope: no search finds it
        point = models.PointStruct(
            id=META_ID,
            vector=marker,
            payload={"model": model, "dim": dim, "rebuilding": rebuilding, "store": self.store,
                     "import": self.claim.to_dict() if self.claim else None},  # fmt: skip
        )
        await self._call("recording the model", "upsert", [point], wait=True)

    async def _create(self, dim: int) -> None:
        params = models.VectorParams(size=dim, distance=models.Distance.COSINE)
        await self._call("creating the collection", "create_collection", vectors_config=params)
        if self.config.url:  # local mode has no payload indexes (it scans)
            for field in ("memory_id", *_SCOPE):
                await self._call(
                    "indexing the scope fields",
                    "create_payload_index",
                    field,
                    models.PayloadSchemaType.KEYWORD,
                )

    # -- the VectorIndex role ---------------------------------------------------------
    async def drop(self) -> None:
        """Drop the collection, model record included (a rebuild starts from nothing)."""
        self._listing.forget()
        if await self._exists():
            await self._call("dropping the collection", "delete_collection")

    def _opened(self) -> None:
        self._listing.forget()

    async def ping(self) -> None:
        if self.config.url:
            await self._exists()

    async def _local_empty(self) -> bool:
        found = await (await self._connect()).get_collections()
        return not found.collections

    def _remove_local(self) -> None:
        if self.local_path.is_dir() and not _locked(self.local_path):  # no other client in it
            shutil.rmtree(self.local_path, ignore_errors=True)

    async def close(self) -> None:
        self.closed = True
        client, self._client = self._client, None
        self._listing.forget()
        if client is not None:
            await client.close()

    async def apply(self, changes: ChangeSet) -> None:
        ops: list[Any] = []
        points, relabel = [], {}
        for item in changes.upserts:
            m = item.memory
            payload = {
                "memory_id": m.id,
                "user_id": m.user_id,
                "agent_id": m.agent_id,
                "run_id": m.run_id,
                "valid_to": m.valid_to.timestamp() if m.valid_to else None,
            }
            if item.vector is None:
                relabel[point_id(m.id)] = payload  # the text is unchanged: scope and validity only
            else:
                vector = np.asarray(item.vector, dtype=np.float32).reshape(-1).tolist()
                points.append(models.PointStruct(id=point_id(m.id), vector=vector, payload=payload))
        if points:
            await self._still_its_model()
        if relabel:  # as an UPDATE of no row, a point not indexed stays absent
            found = await self._call("reading points", "retrieve", list(relabel), with_payload=False)
            for point in found:
                op = models.SetPayload(payload=relabel[str(point.id)], points=[point.id])
                ops.append(models.SetPayloadOperation(set_payload=op))
        if points:
            ops.insert(0, models.UpsertOperation(upsert=models.PointsList(points=points)))
        if changes.deletes:
            gone = models.PointIdsList(points=[point_id(i) for i in changes.deletes])
            ops.append(models.DeleteOperation(delete=gone))
        if ops:
            self._listing.forget()
            await self._call("writing vectors", "batch_update_points", ops, wait=True)

    async def _nearest(
        self, query: np.ndarray, scope: Scope, limit: int, allowed: set[str] | None, only: set[str] | None
    ) -> list[tuple[str, float]]:
        must: list[Any] = [
            models.FieldCondition(key=field, match=models.MatchValue(value=value))
            for field, value in scope.items()
        ]
        if allowed is None:  # current memories only: valid_to null, or no key (local mode's
            # set_payload drops a key set to null: a relabelled current point has none)
            must.append(models.IsEmptyCondition(is_empty=models.PayloadField(key="valid_to")))
        ids = only if only is not None else allowed
        if ids is not None:
            must.append(models.HasIdCondition(has_id=[point_id(i) for i in ids]))

        async def best(n: int) -> list[tuple[str, float]]:
            found = await self._call(
                "searching",
                "query_points",
                query=query.tolist(),
                query_filter=models.Filter(must=must),
                limit=n,
                with_payload=["memory_id"],
            )
            return [(str((p.payload or {}).get("memory_id")), float(p.score)) for p in found.points]

        return await ties_by_id(best, limit)

    async def reset(self) -> None:
        self._listing.forget()
        await self._call(
            "deleting every vector", "delete", models.FilterSelector(filter=_not_meta()), wait=True
        )

    # -- listing and checking (export, memoryd check) ------------------------------------
    async def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(ids))
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(wanted), 500):
            chunk = [point_id(i) for i in wanted[start : start + 500]]
            found = await self._call(
                "reading vectors", "retrieve", chunk, with_payload=["memory_id"], with_vectors=True
            )
            for p in found:
                memory_id = (p.payload or {}).get("memory_id")
                if isinstance(memory_id, str) and p.vector is not None:
                    out[memory_id] = np.asarray(p.vector, dtype=np.float32)
        return out

    async def _all_entries(self) -> list[IndexEntry]:
        out: list[IndexEntry] = []
        offset: Any = None
        while True:
            page, offset = await self._call(
                "listing points",
                "scroll",
                scroll_filter=_not_meta(),
                limit=_PAGE,
                offset=offset,
                with_payload=True,
            )
            for p in page:
                pl = p.payload or {}
                valid_to = pl.get("valid_to")
                out.append(
                    IndexEntry(
                        str(pl.get("memory_id")),
                        pl.get("user_id"),
                        pl.get("agent_id"),
                        pl.get("run_id"),
                        from_epoch(valid_to) if isinstance(valid_to, (int, float)) else None,
                    )  # fmt: skip
                )
            if offset is None:
                return out

    async def entries(self, *, after: str | None = None, limit: int = 1000) -> list[IndexEntry]:
        return await self._listing.page(after, limit)  # point order is id order for UUIDs only

    async def check(self) -> list[str]:
        problems = await super().check()
        unnamed = [e for e in await self.entries() if e.memory_id in ("", "None")] if not problems else []
        if unnamed:
            problems.append(f"{len(unnamed)} Qdrant points name no memory; {REPAIR}")
        return problems
