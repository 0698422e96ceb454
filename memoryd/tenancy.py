"""Tenants: each one a store of its own.

Isolation between tenants is physical: the default tenant lives in
``storage.path`` and every other tenant in its own database file under
``auth.tenants_dir`` (:meth:`Settings.for_tenant`). A tenant's
:class:`AsyncMemory` can reach nothing but its own file, so no query, filter
or route bug can return another tenant's rows. All tenants share one embedding
model and one LLM router.

:class:`Tenants` opens tenant stores on first use and keeps at most
``auth.max_open_tenants`` open, closing the least recently used one that has
been idle for :data:`IDLE_BEFORE_CLOSE_S`, has no write or promotion under way and is not
held: work that runs long after the request that looked its store up (the chat gateway's
write-back) takes the store with :meth:`Tenants.using`, which keeps it open until the work is done,
stored or failed.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from memoryd.config import DEFAULT_TENANT, Settings
from memoryd.errors import NotFoundError
from memoryd.memory import AsyncMemory

__all__ = ["IDLE_BEFORE_CLOSE_S", "Tenants"]

IDLE_BEFORE_CLOSE_S = 60.0


class Tenants:
    """The open tenant stores of one process. ``base`` is the default tenant's memory."""

    def __init__(self, settings: Settings, base: AsyncMemory) -> None:
        self.settings = settings
        self.base = base
        self._open: OrderedDict[str, tuple[AsyncMemory, float]] = OrderedDict()
        self._lock = asyncio.Lock()
        self._held: Counter[str] = Counter()  # per tenant, the blocks of :meth:`using` under way

    async def get(self, tenant: str, *, create: bool = True) -> AsyncMemory:
        """The open memory of ``tenant`` (a valid tenant name; the caller checks it). Without
        ``create``, a tenant that has no store yet is a :class:`NotFoundError`: a read naming
        a mistyped tenant must not answer from (nor leave behind) a new empty store."""
        return await self._get(tenant, create=create, hold=False)

    @asynccontextmanager
    async def using(self, tenant: str, *, create: bool = True) -> AsyncIterator[AsyncMemory]:
        """:meth:`get`, the store held open until the block ends, however it ends."""
        memory = await self._get(tenant, create=create, hold=True)
        try:
            yield memory
        finally:
            self._release(tenant)

    async def _get(self, tenant: str, *, create: bool, hold: bool) -> AsyncMemory:
        """The open memory of ``tenant``; ``hold``: counted as held (before anything is closed)."""
        if tenant == DEFAULT_TENANT:
            return self.base
        now = time.monotonic()
        entry = self._open.get(tenant)
        if entry is not None:
            self._open[tenant] = (entry[0], now)
            self._open.move_to_end(tenant)
            self._hold(tenant, hold)
            return entry[0]
        async with self._lock:
            entry = self._open.get(tenant)
            if entry is not None:
                self._hold(tenant, hold)
                return entry[0]
            settings = self.base.settings.for_tenant(tenant)
            if not create and not settings.storage.path.exists():
                raise NotFoundError(
                    f"no such tenant {tenant!r}: it has no store yet (its first add makes one)",
                    field="X-Memoryd-Tenant",
                )
            # The base memory's own settings: the same embedder, and the same LLM choice (its
            # router, or none), whatever the server's settings say.
            memory = AsyncMemory(
                settings,
                embedder=self.base.loaded_embedder or self.base.embedder,
                router=self.base.router,
                close_router=False,
            )
            await memory.open()
            self._open[tenant] = (memory, now)
            self._hold(tenant, hold)
            try:
                await self._shrink(now)
            except BaseException:
                if hold:
                    self._release(tenant)
                raise
            return memory

    def _hold(self, tenant: str, hold: bool) -> None:
        if hold and tenant != DEFAULT_TENANT:
            self._held[tenant] += 1

    def _release(self, tenant: str) -> None:
        if tenant == DEFAULT_TENANT:
            return
        self._held[tenant] -= 1
        if self._held[tenant] <= 0:
            del self._held[tenant]

    async def _shrink(self, now: float) -> None:
        """Close the least recently used stores past the cap: only those idle for
        :data:`IDLE_BEFORE_CLOSE_S` and with nothing under way (a slow fine-mode add, a background
        promotion, a write-back holding it); when none is, go over the cap rather than cut one off."""
        for tenant, (memory, used) in list(self._open.items()):
            if len(self._open) <= self.settings.auth.max_open_tenants or now - used < IDLE_BEFORE_CLOSE_S:
                return
            if memory.busy or self._held[tenant] > 0:
                continue
            del self._open[tenant]
            await memory.close()

    async def close(self) -> None:
        """Close every tenant store but the default one (its owner closes it)."""
        async with self._lock:
            while self._open:
                _, (memory, _) = self._open.popitem(last=False)
                await memory.close()
