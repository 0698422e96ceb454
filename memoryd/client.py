"""The synchronous API: :class:`Memory`, a thin wrapper over :class:`AsyncMemory`.

Each call runs the async core on a private event loop in a background thread,
so it also works where a loop is already running (notebooks, other frameworks).
Names and arguments are those of :class:`AsyncMemory`.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from memoryd.config import Settings
from memoryd.context import Context
from memoryd.embedders import Embedder
from memoryd.memory import AsyncMemory
from memoryd.models import AddResults, HistoryEntry, MemoryRecord, Page, Scope, UpdateResult
from memoryd.retrieval.related import SearchResults
from memoryd.storage.events import AppliedRecord
from memoryd.sync_loop import LoopThread, runs

__all__ = ["Memory"]

T = TypeVar("T")


class Memory:
    """Long-term memory, synchronous. ``with Memory() as mem: mem.add(...)``.

    Every public name of :class:`AsyncMemory`, called without ``await``; the store is opened
    when the ``Memory`` is made (:meth:`open` is there for symmetry and returns it)."""

    def __init__(self, settings: Settings | None = None, *, embedder: Embedder | None = None) -> None:
        self._loop = LoopThread("memoryd-sync", "Memory")
        try:
            self._async = self._run(_build(settings, embedder))
        except BaseException:
            self._loop.stop()  # a Memory that failed to open leaves no thread behind
            raise

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run(coro)

    @property
    def settings(self) -> Settings:
        return self._async.settings

    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use."""
        return self._async.embedder

    @property
    def loaded_embedder(self) -> Embedder | None:
        return self._async.loaded_embedder

    @property
    def busy(self) -> bool:
        """Whether a write or a background promotion is under way."""
        return self._async.busy

    def open(self) -> Memory:
        """Opened already, when made: returns this ``Memory``."""
        self._run(self._async.open())
        return self

    def open_without_indexes(self) -> Memory:
        """Opened already, indexes too, when made: returns this ``Memory``."""
        self._run(self._async.open_without_indexes())
        return self

    def warm(self) -> None:
        """Load the embedding model now rather than on the first add or search."""
        self._run(self._async.warm())

    @runs(AsyncMemory.previous_turn)
    def previous_turn(self, scope: Scope) -> str | None:
        return self._run(self._async.previous_turn(scope))

    def close(self) -> None:
        self._loop.stop(self._async.close())

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @runs(AsyncMemory.add)
    def add(self, messages: Any, **kwargs: Any) -> AddResults:
        return self._run(self._async.add(messages, **kwargs))

    @runs(AsyncMemory.search)
    def search(self, query: str, **kwargs: Any) -> SearchResults:
        return self._run(self._async.search(query, **kwargs))

    @runs(AsyncMemory.get)
    def get(self, memory_id: str, **kwargs: Any) -> MemoryRecord:
        return self._run(self._async.get(memory_id, **kwargs))

    @runs(AsyncMemory.get_all)
    def get_all(self, **kwargs: Any) -> Page:
        return self._run(self._async.get_all(**kwargs))

    @runs(AsyncMemory.update)
    def update(self, memory_id: str, text: str | None = None, **kwargs: Any) -> UpdateResult:
        return self._run(self._async.update(memory_id, text, **kwargs))

    @runs(AsyncMemory.delete)
    def delete(self, memory_id: str, **kwargs: Any) -> list[MemoryRecord]:
        return self._run(self._async.delete(memory_id, **kwargs))

    @runs(AsyncMemory.delete_all)
    def delete_all(self, **kwargs: Any) -> int:
        return self._run(self._async.delete_all(**kwargs))

    @runs(AsyncMemory.history)
    def history(self, memory_id: str, **kwargs: Any) -> list[HistoryEntry]:
        return self._run(self._async.history(memory_id, **kwargs))

    @runs(AsyncMemory.reset)
    def reset(self, *, queue_mark_ms: int | None = None) -> None:
        self._run(self._async.reset(queue_mark_ms=queue_mark_ms))

    @runs(AsyncMemory.context)
    def context(self, query: str, **kwargs: Any) -> Context:
        return self._run(self._async.context(query, **kwargs))

    @runs(AsyncMemory.users)
    def users(self, *, user_id: str | None = None) -> list[dict[str, Any]]:
        return self._run(self._async.users(user_id=user_id))

    @runs(AsyncMemory.delete_user)
    def delete_user(self, user_id: str, *, queue_mark_ms: int | None = None) -> int:
        return self._run(self._async.delete_user(user_id, queue_mark_ms=queue_mark_ms))

    @runs(AsyncMemory.applied_event)
    def applied_event(self, event_id: str) -> AppliedRecord | None:
        return self._run(self._async.applied_event(event_id))

    @runs(AsyncMemory.tree)
    def tree(self, user_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
        return self._run(self._async.tree(user_id, **kwargs))

    @runs(AsyncMemory.health)
    def health(self) -> dict[str, Any]:
        return self._run(self._async.health())


async def _build(settings: Settings | None, embedder: Embedder | None) -> AsyncMemory:
    return await AsyncMemory(settings, embedder=embedder).open()
