"""The memory as a ``user`` key sees it: every call made for the key's ``user_id``.

:class:`UserBoundMemory` wraps an :class:`~memoryd.memory.AsyncMemory` and offers
the same calls, each with ``user_id`` set to the bound user (a call naming another
user is a 404 naming ``user_id``, never run for the key's own user instead), so a
route cannot forget to restrict a read or a write. A memory of another user is
therefore a 404, exactly like an id that does not exist. Calls that span users
(``reset``) are refused; ``users`` lists only the bound user, ``delete_user`` of
anyone else is a 404. Anything not listed here
does not exist on the view (an AttributeError, never a silent pass-through).
"""

from __future__ import annotations

from typing import Any

from memoryd.config import Settings
from memoryd.context import Context
from memoryd.errors import NotFoundError, PermissionDeniedError
from memoryd.llm import Router
from memoryd.memory import AsyncMemory
from memoryd.models import AddResults, HistoryEntry, MemoryRecord, Page, UpdateResult
from memoryd.pipeline.events import owned_event_id
from memoryd.retrieval.related import SearchResults
from memoryd.storage.events import AppliedRecord

__all__ = ["FORBIDDEN", "UserBoundMemory", "may_erase", "own_user"]

# AsyncMemory's public calls a user key may never make (tests check every public
# coroutine of AsyncMemory is either wrapped here or listed).
FORBIDDEN = frozenset({"open", "open_without_indexes", "close", "warm", "previous_turn"})


def may_erase(key_user: str | None, user_id: str | None) -> bool:
    """Whether a key bound to ``key_user`` (None: a service or admin key) may erase ``user_id``'s
    memories (None: the whole store). The one rule for :class:`UserBoundMemory` and for the
    routes that drop what is still on its way to the store first."""
    return key_user is None or (user_id is not None and user_id == key_user)


def own_user(key_user: str, named: str | None) -> str:
    """The user a call of a key bound to ``key_user`` is for: its own, named or not. Naming another
    is a 404 (as another user's memory is), never a call made for the key's own user instead (a
    delete_all meant for "bob" erased the caller's memories)."""
    if named is not None and named != key_user:
        message = f"no user {named!r} for this API key (it is bound to its own user)"
        raise NotFoundError(message, field="user_id")
    return key_user


class UserBoundMemory:
    """``memory`` restricted to ``user_id``."""

    def __init__(self, memory: AsyncMemory, user_id: str) -> None:
        self._memory = memory
        self.user_id = user_id

    @property
    def settings(self) -> Settings:
        return self._memory.settings

    @property
    def router(self) -> Router | None:
        return self._memory.router

    def _scope(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs["user_id"] = own_user(self.user_id, kwargs.get("user_id"))
        return kwargs

    async def add(self, messages: Any, **kwargs: Any) -> AddResults:
        """As :meth:`AsyncMemory.add`; why the LLM fell short names no upstream's address."""
        results = await self._memory.add(messages, **self._scope(kwargs))
        router, llm = self._memory.router, results.llm
        if router is not None and llm is not None:
            llm.fallback = router.unplaced(llm.fallback) if llm.fallback else llm.fallback
            llm.incomplete = router.unplaced(llm.incomplete) if llm.incomplete else llm.incomplete
        return results

    async def update(self, memory_id: str, text: str | None = None, **kwargs: Any) -> UpdateResult:
        return await self._memory.update(memory_id, text, **self._scope(kwargs))

    async def delete(self, memory_id: str, **kwargs: Any) -> list[MemoryRecord]:
        return await self._memory.delete(memory_id, **self._scope(kwargs))

    async def delete_all(self, **kwargs: Any) -> int:
        return await self._memory.delete_all(**self._scope(kwargs))

    async def get(self, memory_id: str, **kwargs: Any) -> MemoryRecord:
        return await self._memory.get(memory_id, **self._scope(kwargs))

    async def get_all(self, **kwargs: Any) -> Page:
        return await self._memory.get_all(**self._scope(kwargs))

    async def search(self, query: str, **kwargs: Any) -> SearchResults:
        return await self._memory.search(query, **self._scope(kwargs))

    async def context(self, query: str, **kwargs: Any) -> Context:
        return await self._memory.context(query, **self._scope(kwargs))

    async def history(self, memory_id: str, **kwargs: Any) -> list[HistoryEntry]:
        return await self._memory.history(memory_id, **self._scope(kwargs))

    async def users(self, **kwargs: Any) -> list[dict[str, Any]]:
        return await self._memory.users(**self._scope(kwargs))

    async def delete_user(self, user_id: str, *, queue_mark_ms: int | None = None) -> int:
        if not may_erase(self.user_id, user_id):
            raise NotFoundError(f"no user {user_id!r}", field="user_id")
        return await self._memory.delete_user(user_id, queue_mark_ms=queue_mark_ms)

    async def applied_event(self, event_id: str) -> AppliedRecord | None:
        """As :meth:`AsyncMemory.applied_event`, for the ids of this key's user only (those its
        events are stored under, :func:`memoryd.pipeline.events.stored_event_id` with its user as
        owner): nothing of another's is looked up."""
        if not owned_event_id(event_id, self.user_id):
            return None
        return await self._memory.applied_event(event_id)

    async def tree(self, user_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
        if user_id is None:  # an agent's own memories belong to no user, so not to the key's
            message = "an agent's own memories (no user) are not this API key's (bound to its own user)"
            raise NotFoundError(message, field="agent_id")
        if user_id != self.user_id:
            raise NotFoundError(f"no user {user_id!r}", field="user_id")
        return await self._memory.tree(user_id, **kwargs)

    async def health(self) -> dict[str, Any]:
        return await self._memory.health()

    async def reset(self, *, queue_mark_ms: int | None = None) -> None:
        raise PermissionDeniedError("a user key cannot erase the store; use DELETE /v1/users/{its user_id}")
