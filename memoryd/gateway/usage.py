"""Usage accounting of the chat gateway: per user, UTC day and model, saved in the store.

Every call adds to counters kept in memory (requests, prompt and completion
tokens as the upstream reported them, memory tokens and memories injected);
every ``gateway.usage_flush_s`` they are added to the tenant's
:class:`~memoryd.storage.base.UsageStore` in one small transaction, and once
more when the server stops. A read merges what is saved with what is not yet,
so it is exact at once. A store that cannot be written keeps its counters for
the next flush. A user being deleted loses its counters not saved yet
(:meth:`UsageMeter.forget`); the store deletes the saved ones.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from memoryd.errors import MemorydError
from memoryd.storage.base import UsageRecord, UsageStore

__all__ = ["StoreFor", "UsageMeter", "summarise", "today"]

log = logging.getLogger("memoryd.gateway")

StoreFor = Callable[[str], Awaitable[UsageStore | None]]
_COUNTS = ("requests", "prompt_tokens", "completion_tokens", "memory_tokens", "memories")


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def _plus(a: UsageRecord, b: UsageRecord) -> UsageRecord:
    return dataclasses.replace(a, **{k: getattr(a, k) + getattr(b, k) for k in _COUNTS})


class UsageMeter:
    """Counters per tenant, saved to the tenant's usage store now and then."""

    def __init__(self, store_for: StoreFor, flush_s: float = 1.0) -> None:
        self._store_for = store_for
        self.flush_s = flush_s
        self._pending: dict[str, dict[tuple[str | None, str, str], UsageRecord]] = {}
        self._saving: dict[str, dict[tuple[str | None, str, str], UsageRecord]] = {}  # being written
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.last_error: str | None = None

    def record(self, tenant: str, row: UsageRecord) -> None:
        """Count one call (or part of one)."""
        rows = self._pending.setdefault(tenant, {})
        seen = rows.get(row.key)
        rows[row.key] = row if seen is None else _plus(seen, row)

    async def forget(self, tenant: str, user_id: str | None) -> None:
        """Drop the counters of ``user_id`` in ``tenant`` (``None``: every user's) not saved yet (the
        user, or the store, is being erased).

        Under the lock, so a flush saving them finishes first: the deletion that follows removes
        what it saved."""
        async with self._lock:
            for rows in (self._pending.get(tenant, {}), self._saving.get(tenant, {})):
                for key in [k for k, row in rows.items() if user_id in (None, row.user_id)]:
                    del rows[key]

    async def store(self, tenant: str) -> UsageStore | None:
        """The usage store of ``tenant`` (``None`` when its backend keeps none)."""
        return await self._store_for(tenant)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            await self.flush()

    async def flush(self) -> None:
        """Save the counters kept so far (those of a store that fails stay for the next time)."""
        async with self._lock:
            for tenant in list(self._pending):
                rows = self._saving[tenant] = self._pending.pop(tenant)
                try:
                    store = await self._store_for(tenant)
                    if store is not None:
                        await store.add(list(rows.values()))
                    self.last_error = None
                except Exception as exc:  # noqa: BLE001 - counters are kept, the loop goes on
                    for row in rows.values():
                        self.record(tenant, row)
                    reason = exc.message if isinstance(exc, MemorydError) else repr(exc)
                    if self.last_error != reason:
                        log.warning("gateway usage not saved yet (kept for the next try): %s", reason)
                    self.last_error = reason
                finally:
                    del self._saving[tenant]

    async def query(
        self,
        tenant: str,
        store: UsageStore | None,
        user_id: str | None,
        *,
        all_users: bool = False,
        since: str | None = None,
        until: str | None = None,
    ) -> list[UsageRecord]:
        """Saved and pending rows of ``user_id`` (or ``all_users``) in ``since``..``until``."""
        async with self._lock:  # not while a flush is between the store and the counters
            saved = await store.query(user_id, all_users=all_users, since=since, until=until) if store else []
        merged = {r.key: r for r in saved}
        unsaved = [*self._pending.get(tenant, {}).values(), *self._saving.get(tenant, {}).values()]
        for row in unsaved:
            if not all_users and row.user_id != user_id:
                continue
            if (since is not None and row.day < since) or (until is not None and row.day > until):
                continue
            seen = merged.get(row.key)
            merged[row.key] = row if seen is None else _plus(seen, row)
        return sorted(merged.values(), key=lambda r: (r.user_id or "", r.day, r.model))


def _counts(rows: Iterable[UsageRecord]) -> dict[str, int]:
    out = dict.fromkeys(_COUNTS, 0)
    for r in rows:
        for k in _COUNTS:
            out[k] += getattr(r, k)
    out["total_tokens"] = out["prompt_tokens"] + out["completion_tokens"]
    return out


def summarise(rows: list[UsageRecord]) -> dict[str, Any]:
    """Totals, then per day and per model."""
    days = sorted({r.day for r in rows})
    models = sorted({r.model for r in rows})
    return {
        "totals": _counts(rows),
        "by_day": [{"day": d, **_counts(r for r in rows if r.day == d)} for d in days],
        "by_model": [{"model": m, **_counts(r for r in rows if r.model == m)} for m in models],
    }
