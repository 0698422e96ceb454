"""The synchronous remote client: :class:`MemoryClient`, a thin wrapper over
:class:`AsyncMemoryClient`, as :class:`memoryd.Memory` wraps :class:`AsyncMemory`.

Each call runs the async client on a private event loop in a background thread, so it also works
where a loop is already running (notebooks, other frameworks). Names and arguments are those of
:class:`AsyncMemoryClient`.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from memoryd.context import Context
from memoryd.models import AddResults, HistoryEntry, MemoryRecord, Page, UpdateResult
from memoryd.remote.client import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_S, AsyncMemoryClient
from memoryd.retrieval.related import SearchResults
from memoryd.sync_loop import LoopThread, runs

__all__ = ["MemoryClient"]

T = TypeVar("T")


class MemoryClient:
    """A memoryd server's memory, synchronous: ``with MemoryClient(url, api_key=KEY) as mem:``.

    The methods of :class:`AsyncMemoryClient` (those of :class:`memoryd.Memory` it serves),
    called without ``await``."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        tenant: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        self._loop = LoopThread("memoryd-remote", "MemoryClient")
        try:
            self._async = self._run(_build(base_url, api_key, tenant, timeout, max_retries))
        except BaseException:
            self._loop.stop()
            raise

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run(coro)

    @property
    def base_url(self) -> str:
        return self._async.base_url

    def close(self) -> None:
        self._loop.stop(self._async.close())

    def __enter__(self) -> MemoryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @runs(AsyncMemoryClient.add)
    def add(self, messages: Any, **kwargs: Any) -> AddResults:
        return self._run(self._async.add(messages, **kwargs))

    @runs(AsyncMemoryClient.search)
    def search(self, query: str, **kwargs: Any) -> SearchResults:
        return self._run(self._async.search(query, **kwargs))

    @runs(AsyncMemoryClient.get)
    def get(self, memory_id: str, **kwargs: Any) -> MemoryRecord:
        return self._run(self._async.get(memory_id, **kwargs))

    @runs(AsyncMemoryClient.get_all)
    def get_all(self, **kwargs: Any) -> Page:
        return self._run(self._async.get_all(**kwargs))

    @runs(AsyncMemoryClient.update)
    def update(self, memory_id: str, text: str | None = None, **kwargs: Any) -> UpdateResult:
        return self._run(self._async.update(memory_id, text, **kwargs))

    @runs(AsyncMemoryClient.delete)
    def delete(self, memory_id: str, **kwargs: Any) -> list[MemoryRecord]:
        return self._run(self._async.delete(memory_id, **kwargs))

    @runs(AsyncMemoryClient.delete_all)
    def delete_all(self, **kwargs: Any) -> int:
        return self._run(self._async.delete_all(**kwargs))

    @runs(AsyncMemoryClient.history)
    def history(self, memory_id: str, **kwargs: Any) -> list[HistoryEntry]:
        return self._run(self._async.history(memory_id, **kwargs))

    @runs(AsyncMemoryClient.context)
    def context(self, query: str, **kwargs: Any) -> Context:
        return self._run(self._async.context(query, **kwargs))

    @runs(AsyncMemoryClient.users)
    def users(self, *, user_id: str | None = None) -> list[dict[str, Any]]:
        return self._run(self._async.users(user_id=user_id))

    @runs(AsyncMemoryClient.tree)
    def tree(self, user_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
        return self._run(self._async.tree(user_id, **kwargs))

    @runs(AsyncMemoryClient.delete_user)
    def delete_user(self, user_id: str) -> int:
        return self._run(self._async.delete_user(user_id))

    @runs(AsyncMemoryClient.reset)
    def reset(self) -> None:
        self._run(self._async.reset())

    @runs(AsyncMemoryClient.health)
    def health(self) -> dict[str, Any]:
        return self._run(self._async.health())


async def _build(
    base_url: str, api_key: str | None, tenant: str | None, timeout: float | None, max_retries: int
) -> AsyncMemoryClient:
    return AsyncMemoryClient(
        base_url, api_key=api_key, tenant=tenant, timeout=timeout, max_retries=max_retries
    )
