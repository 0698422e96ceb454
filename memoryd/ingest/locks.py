"""One asyncio lock per owner (user/agent; a session when there is neither), made on demand
and dropped once no one holds or waits on it."""

from __future__ import annotations

import asyncio
import weakref

from memoryd.ingest.derived import owner_scope
from memoryd.models import Scope

__all__ = ["OwnerLocks"]


class OwnerLocks:
    """``of(scope)`` is the lock of the scope's owner: two scopes of one user share it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[tuple[str | None, ...], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def of(self, scope: Scope) -> asyncio.Lock:
        owner = owner_scope(scope)
        key = (owner.user_id, owner.agent_id, owner.run_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock
