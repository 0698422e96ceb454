"""One asyncio lock per owner, made on demand and dropped once no one holds or waits on it.

The owner is the user when there is one (every agent and session of a user share it: fine mode
reconciles a write naming only the user with that user's memories of every agent), else the
agent, else the session."""

from __future__ import annotations

import asyncio
import weakref

from memoryd.ingest.derived import owner_scope
from memoryd.models import Scope

__all__ = ["OwnerLocks", "owner_key"]


class OwnerLocks:
    """``of(scope)`` is the lock of the scope's owner: every scope of one user shares it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock]
        self._locks = weakref.WeakValueDictionary()

    @property
    def busy(self) -> bool:
        """Whether any owner's lock is held or waited on (a lock lives only while someone has it)."""
        return len(self._locks) > 0

    def of(self, scope: Scope) -> asyncio.Lock:
        key = owner_key(scope)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock


def owner_key(scope: Scope) -> tuple[str, str]:
    """Whose lock ``scope`` takes: its user's, else its agent's, else its session's."""
    owner = owner_scope(scope)
    if owner.user_id is not None:
        return ("user", owner.user_id)
    if owner.agent_id is not None:
        return ("agent", owner.agent_id)
    return ("run", owner.run_id or "")
