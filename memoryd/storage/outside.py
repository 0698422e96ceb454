"""What the vector indexes in another engine than the record store (Qdrant, Milvus,
PostgreSQL) share: :class:`OutsideIndex`, the role's logic over a few engine calls; the key of
a memory's point and the reserved key of the model record (Qdrant, Milvus); the check that an
index belongs to its store; paging points in memory-id order."""

from __future__ import annotations

import bisect
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np

from memoryd.errors import ConflictError, StorageError
from memoryd.models import Scope
from memoryd.redact import mask_url
from memoryd.storage.claims import ImportClaim, abandoned, refusal
from memoryd.storage.mismatch import embedder_mismatch, moved_meanwhile
from memoryd.storage.portable import IndexEntry

__all__ = [
    "META_ID", "MODEL_CHECK_S", "REPAIR", "Listing", "OutsideIndex", "check_owner", "point_id", "ties_by_id",
]  # fmt: skip

META_ID = "00000000-0000-0000-0000-000000000000"  # the point that records the embedding model
_IDS = uuid.UUID("6f1c7f2e-9d43-4c55-9a4e-3d0c1c5e8b21")  # namespace of keys derived from other ids
REPAIR = "rebuild it from the records with `memoryd reindex`"
# How often (seconds) a search looks at the index's model record: a `memoryd reindex` onto another
# model by another process is found within this, at the cost of one small read per interval.
MODEL_CHECK_S = 5.0


def point_id(memory_id: str) -> str:
    """A memory's point: its id when that is a canonical UUID (memoryd's own ids are), else a
    UUID derived from it (an imported id of any form; never the model record's)."""
    try:
        if str(uuid.UUID(memory_id)) == memory_id and memory_id != META_ID:
            return memory_id
    except ValueError:
        pass
    return str(uuid.uuid5(_IDS, memory_id))


async def ties_by_id(
    nearest: Callable[[int], Awaitable[list[tuple[str, float]]]], limit: int, most: int | None = None
) -> list[tuple[str, float]]:
    """The best ``limit`` (id, cosine) of ``nearest(n)``, an engine's best ``n`` with equal cosines
    in its own order (Qdrant's by point, Milvus's by insertion), ranked as the SQLite and
    PostgreSQL indexes rank them: equal cosines by memory id, whichever the engine took first.
    One more than ``limit`` is asked for; while the last one asked for ties the last one kept, the
    engine may have left out more of that cosine, and twice as many are asked for (``most``: the
    most one request returns)."""
    if limit <= 0:
        return []
    asked = limit + 1 if most is None else min(limit + 1, most)
    while True:
        hits = sorted(await nearest(asked), key=lambda h: (-h[1], h[0]))
        if len(hits) < asked or len(hits) <= limit or hits[-1][1] != hits[limit - 1][1] or asked == most:
            return hits[:limit]
        asked = asked * 2 if most is None else min(asked * 2, most)


class Listing:
    """``entries()`` for an engine that lists its points in another order than memory ids: a
    walk (``after`` None) reads every point once and sorts them; its next pages come from that
    listing, until a write (:meth:`forget`) makes the next page read them again."""

    def __init__(self, read_all: Callable[[], Awaitable[list[IndexEntry]]]) -> None:
        self._read_all = read_all
        self._entries: list[IndexEntry] | None = None
        self._keys: list[str] = []

    def forget(self) -> None:
        self._entries = None

    async def page(self, after: str | None, limit: int) -> list[IndexEntry]:
        if self._entries is None or after is None:
            self._entries = sorted(await self._read_all(), key=lambda e: e.memory_id)
            self._keys = [e.memory_id for e in self._entries]
        start = bisect.bisect_right(self._keys, after) if after is not None else 0
        return self._entries[start : start + limit]


def located(server: str | None, server_setting: str, local: Path, what: str) -> tuple[str, str, str]:
    """``(where, what, setting)`` for :class:`OutsideIndex`: an engine's server at ``server`` (set by
    ``server_setting``, ``storage.qdrant.url``; shown with its password masked), else its local mode
    in ``local`` (set by the ``path`` of the same section); ``what`` names the collection."""
    if server:
        return mask_url(server), f"{what} at {mask_url(server)}", server_setting
    section = server_setting.rsplit(".", 1)[0]
    return str(local), f"{what} at {local}", f"{section}.path"


def check_owner(
    what: str, setting: str, recorded: object, store: str | None, *, holds: str = "the vectors",
    claim: object = None,
) -> None:  # fmt: skip
    """Refuse ``what`` (a collection, table or graph) that records another store than ``store``:
    two stores writing one index would mix their vectors (``holds``), and one's reset or reindex
    would wipe the other's. A record of no store (written before stores had ids) is taken over.
    ``claim``: the record of an unfinished import into that store (:mod:`memoryd.storage.claims`),
    whose refusal says how to release it."""
    if store is None or recorded in (None, "", store):
        return
    found = ImportClaim.of(claim)
    if found is not None:
        raise ConflictError(
            f"{what} holds {holds} of another memoryd store (id {recorded}; this one is {store}), made by "
            + refusal(setting, str(recorded), found),
            field=setting,
        )
    raise ConflictError(
        f"{what} holds {holds} of another memoryd store (id {recorded}; this one is {store}): "
        f"give each store its own with {setting}",
        field=setting,
    )


class OutsideIndex:
    """The :class:`~memoryd.storage.base.VectorIndex` role in an engine other than the record
    store's (Qdrant, Milvus, PostgreSQL): what they do alike — the model record, the store that
    owns the index, rebuilds, ``search``'s two passes, ``check`` — over a few engine calls each
    backend implements (the methods below that raise ``NotImplementedError``).

    The model record is a dict: ``model``, ``dim``, ``rebuilding``, ``store``."""

    outside_transaction = True  # written last, just before the records commit (Storage.commit)
    engine = "the engine"  # "Qdrant"
    owner_setting = "storage.vectors"  # the setting that gives a store an index of its own

    def __init__(self, where: str, what: str, setting: str) -> None:
        self.where = where  # the server's URL (password masked), or local mode's path
        self.what = what  # "the Qdrant collection memoryd at ...", for messages
        self.setting = setting  # the setting that says where the engine is: a failure names it
        self.model = ""
        self.dim = 0
        self.store: str | None = None  # the store this index belongs to (see check_owner)
        self.claim: ImportClaim | None = None  # an unfinished import's, recorded with it (mark_import)
        # Closed (close()): no client is made again until open() or release(). A write staged in
        # the record store's transaction can still start on the event loop after the store closed
        # its clients (an interrupted import: SQLiteDatabase.before_commit); reconnecting then left
        # a client nobody closes, holding Qdrant's local folder locked, and wrote past the records.
        self.closed = False
        self._model_seen = 0.0  # when a search last found the index of its model (monotonic)

    @property
    def remote(self) -> bool:
        """The engine is a server (else its local mode, in a file or folder here)."""
        return not self.setting.endswith(".path")

    def _foreign(self) -> ConflictError:
        return ConflictError(
            f"{self.what} holds data memoryd did not write (it has no memoryd model record): "
            f"give this store one of its own with {self.owner_setting}",
            field=self.owner_setting,
        )

    def _not_closed(self) -> None:
        """Raise :class:`StorageError` once the index is closed: called before a client is made."""
        if self.closed:
            raise StorageError(f"{self.what} is closed: nothing more is read or written", field=self.setting)

    def _fail(self, exc: BaseException, doing: str) -> StorageError:
        """The engine failing (down, refusing, timing out): the backend is unavailable (503)."""
        text = str(exc).strip()
        detail = text.splitlines()[0] if text else type(exc).__name__
        message = f"{self.engine} at {self.where} failed while {doing}: {detail}"
        return StorageError(message, field=self.setting)

    # -- what each engine implements ---------------------------------------------------
    async def _meta(self) -> dict[str, Any] | None:
        raise NotImplementedError

    async def _write_meta(self, model: str, dim: int, *, rebuilding: bool) -> None:
        raise NotImplementedError

    async def _exists(self) -> bool:
        raise NotImplementedError

    async def _count(self) -> int:
        raise NotImplementedError

    async def _any(self) -> bool:
        return await self._count() > 0

    async def _size(self) -> int | None:
        """The vector size the collection (table) was made for."""
        raise NotImplementedError

    async def _create(self, dim: int) -> None:
        raise NotImplementedError

    async def drop(self) -> None:
        """Drop the collection (table) and the model record: a rebuild starts from nothing."""
        raise NotImplementedError

    async def _nearest(
        self, query: np.ndarray, scope: Scope, limit: int, allowed: set[str] | None, only: set[str] | None
    ) -> list[tuple[str, float]]:
        """Best ``limit`` (id, cosine) of ``scope``: current ones, or exactly ``allowed``; only
        among ``only`` when given. Best first, equal cosines by memory id (see :func:`ties_by_id`)."""
        raise NotImplementedError

    def _opened(self) -> None:
        """After open (a cache to drop)."""

    async def ping(self) -> None:
        """Raise :class:`~memoryd.errors.StorageError` unless the engine's server answers, without
        making anything there (``memoryd doctor`` asks before a store exists). Local mode has no
        server to reach: nothing is asked, nor made."""
        raise NotImplementedError

    # -- the role ------------------------------------------------------------------------
    async def recorded(self) -> tuple[str, int] | None:
        meta = await self._meta()
        if not meta or not await self._any():
            return None
        model, dim = meta.get("model"), meta.get("dim")
        return (str(model), int(dim)) if model and isinstance(dim, int) else None

    async def open(self, model: str, dim: int, *, rebuild: bool = False, store: str | None = None) -> None:
        self.store, self.closed = store, False
        meta = await self._meta()
        recorded, claimed = (meta or {}).get("store"), (meta or {}).get("import")
        check_owner(self.what, self.owner_setting, recorded, store, claim=claimed)
        self.claim = None  # an import marks it once open (mark_import); one left here goes with a rewrite
        if meta is None and await self._exists() and await self._any():
            raise self._foreign()  # another program's data: never adopted, dropped or rebuilt
        if rebuild:
            await self.drop()
            meta = None
        if meta and meta.get("rebuilding"):
            raise StorageError(
                f"the vector index in {self.what} is incomplete (a `memoryd reindex` did not finish): "
                "run `memoryd reindex` again",
                field="storage.vectors",
                repair="memoryd reindex",
            )
        exists = await self._exists()
        if meta is None or not exists or not await self._any():
            if exists and await self._size() != dim:  # empty: made again for this size
                await self.drop()
                exists = False
            if not exists:
                await self._create(dim)
            await self._write_meta(model, dim, rebuilding=rebuild)
            # another store opening this server's collection at the same moment: one of them wins
            check_owner(self.what, self.owner_setting, ((await self._meta()) or {}).get("store"), store)
        elif meta.get("model") != model or meta.get("dim") != dim:
            count, stored = await self._count(), (meta.get("model"), meta.get("dim"))
            own_index = self.owner_setting if self.remote else None  # a server's: the old store's
            raise embedder_mismatch(self.what, count, *stored, model, dim, own_index=own_index)
        elif store and meta.get("store") != store:  # recorded before stores had ids: taken over
            await self._write_meta(model, dim, rebuilding=False)
        self.model, self.dim = model, dim
        self._opened()

    async def _still_its_model(self, then: str = "Nothing was written; restart") -> None:
        """:class:`StorageError` (503) unless the index is still of the model it was opened with:
        called before a write with vectors, and by a search every :data:`MODEL_CHECK_S`. A `memoryd
        reindex` with another model, run meanwhile by another process on this shared engine, moved
        it: a vector written now would be of the old model among the new model's, silently (the
        same size: nothing else refuses it), and a query embedded with the old model would be
        compared with the new model's vectors."""
        meta = await self._meta()
        if meta is not None:  # none: the index is gone, and the write fails on it
            self._same_model((meta.get("model"), meta.get("dim")), then)

    def _same_model(self, stored: tuple[Any, Any], then: str) -> None:
        """:class:`StorageError` (503, :func:`moved_meanwhile`) unless ``stored`` (model, dim) is
        the model this process opened the index with."""
        if stored != (self.model, self.dim):
            raise moved_meanwhile(self.what, stored, (self.model, self.dim), then)

    async def mark_import(self, claim: ImportClaim | None) -> None:
        """Record ``claim`` (an import into this new store, running) with the index, or remove it
        (None: the import finished); see :mod:`memoryd.storage.claims`."""
        self.claim = claim
        await self._write_meta(self.model, self.dim, rebuilding=False)

    async def release(self, store: str, *, made: Collection[Path] = ()) -> bool:
        """Drop the index if it records ``store`` (made or claimed by an import into that new store
        that was refused or interrupted: ``memoryd import`` cleans up after itself, ``--restart``
        after a killed one), then close it. Local mode's folder (file) goes too when it is among
        ``made`` (the import made it: it was not there before) and holds no collection any more;
        one that was there before is never removed, nor anything in it but the collection. An
        index of another store, or of none, is left as it is. Whether it was dropped."""
        return await self._release(lambda meta: bool(meta) and (meta or {}).get("store") == store, made)

    async def release_abandoned(self, *, made: Collection[Path] = ()) -> ImportClaim | None:
        """Drop the index if an import into a new store claimed it and that store is gone (its file
        deleted by hand after the import was killed), as :meth:`release` does; the claim, or None
        when there is none. :class:`ConflictError` when that store still exists (nothing dropped)."""
        found: list[ImportClaim] = []

        def gone(meta: dict[str, Any] | None) -> bool:
            claim = abandoned(meta, self.what)
            found.extend([claim] if claim is not None else [])
            return claim is not None

        await self._release(gone, made)
        return found[0] if found else None

    async def _release(self, drops: Callable[[dict[str, Any] | None], bool], made: Collection[Path]) -> bool:
        self.closed = False  # a connection of its own, closed again below
        local = None if self.remote else Path(self.where).absolute()  # local mode's folder (file)
        if local is not None and not local.exists():  # nothing was made there: asking would make it
            await self.close()
            return False
        ours = local is not None and local in {Path(p).absolute() for p in made}
        try:
            dropped = drops(await self._meta())
            if dropped:
                await self.drop()
            empty = ours and await self._local_empty()
        finally:
            await self.close()
        if empty:
            self._remove_local()
        return dropped

    async def close(self) -> None:
        """Close the client; none is made again until :meth:`open` (see :attr:`closed`)."""
        raise NotImplementedError

    async def _local_empty(self) -> bool:
        """Local mode: whether its folder (file) holds no collection."""
        return False

    def _remove_local(self) -> None:
        """Local mode: remove its folder (file), made by the import and found empty, once closed."""

    async def rebuilt(self) -> None:
        await self._write_meta(self.model, self.dim, rebuilding=False)

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
        if time.monotonic() - self._model_seen >= MODEL_CHECK_S:  # one look at the model record
            await self._still_its_model("Nothing was searched; restart")
            self._model_seen = time.monotonic()
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        wanted = {i for i in also or () if allowed is None or i in allowed}
        if limit > 0 and wanted:
            return await self._nearest_and(query, scope, limit, allowed, wanted)
        best = await self._nearest(query, scope, limit, allowed, None) if limit > 0 else []
        if wanted:
            best += await self._nearest(query, scope, len(wanted), allowed, wanted)
        return best

    async def _nearest_and(
        self, query: np.ndarray, scope: Scope, limit: int, allowed: set[str] | None, wanted: set[str]
    ) -> list[tuple[str, float]]:
        """The best ``limit``, then the cosines of the ``wanted`` ids not among them (best first).
        Two passes here; an engine that can answer both in one request does."""
        best = await self._nearest(query, scope, limit, allowed, None)
        taken = {mid for mid, _ in best}
        if rest := wanted - taken:
            best += await self._nearest(query, scope, len(rest), allowed, rest)
        return best

    async def check(self) -> list[str]:
        meta = await self._meta()
        if meta is None or not await self._exists():
            return [f"{self.what} or its model record is missing; {REPAIR}"]
        problems: list[str] = []
        if meta.get("rebuilding"):
            problems.append("the vector index is incomplete: a `memoryd reindex` did not finish")
        size = await self._size()
        if size != meta.get("dim"):
            problems.append(
                f"{self.what} holds vectors of {size} numbers, its model record says {meta.get('dim')}"
            )
        return problems
