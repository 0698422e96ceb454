"""A private event loop on a thread of its own: how the synchronous wrappers run async code.

:class:`memoryd.Memory` (over :class:`memoryd.AsyncMemory`) and :class:`memoryd.MemoryClient`
(over :class:`memoryd.AsyncMemoryClient`) each keep one; a call runs its coroutine there and
waits for it, so it also works where a loop is already running (notebooks, other frameworks),
and from several threads at once. :meth:`LoopThread.stop` cancels the calls still running (another
thread's, waiting on a server) before the wrapped object closes and the loop stops: each raises
RuntimeError saying the wrapper was closed, instead of waiting forever on a loop that no longer
runs (or failing on a connection closed under it). One made in another process (a child forked
after it was used) or pickled refuses with a clear error instead of hanging: its thread is not there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread", "runs"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def runs(original: Callable[..., Any]) -> Callable[[F], F]:
    """Give a synchronous wrapper method the signature and docstring of the async method it runs:
    ``help()``, ``inspect.signature`` and notebooks show its arguments, not ``**kwargs``."""

    def mirror(method: F) -> F:
        method.__signature__ = inspect.signature(original)  # type: ignore[attr-defined]
        method.__doc__ = method.__doc__ or original.__doc__
        return method

    return mirror


class LoopThread:
    """An event loop running on a daemon thread named ``name`` until :meth:`stop`."""

    def __init__(self, name: str, owner: str) -> None:
        self.owner = owner  # what a call after stop() names: "this Memory is closed"
        self.closed = False
        self._lock = threading.Lock()  # a call is handed to the loop before stop() or not at all
        self._pid = os.getpid()  # a forked child has no thread running the loop
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result (its exception is raised here)."""
        if self._forked():  # no thread runs the loop here: the call would wait forever
            coro.close()
            raise RuntimeError(
                f"this {self.owner} was made in another process (this one was forked from it): "
                f"make a new {self.owner} in this process"
            )
        with self._lock:
            if self.closed:
                coro.close()
                raise RuntimeError(f"this {self.owner} is closed")
            future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            if self.closed:  # cancelled by stop(), from another thread
                raise RuntimeError(f"this {self.owner} was closed while the call ran") from None
            raise

    def stop(self, last: Coroutine[Any, Any, Any] | None = None) -> None:
        """Cancel the calls still running, then run ``last`` (the wrapped object's close, which
        must not pull a connection or a store from under a call), stop the loop and its thread;
        later calls raise RuntimeError. In a forked child it only marks it closed: the thread, the
        store and the connections are the parent's."""
        if self._forked():
            self.closed = True
            if last is not None:
                last.close()
            return
        with self._lock:
            if self.closed:
                if last is not None:
                    last.close()
                return
            self.closed = True
        try:
            asyncio.run_coroutine_threadsafe(_cancel_others(), self._loop).result()
            if last is not None:
                asyncio.run_coroutine_threadsafe(last, self._loop).result()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def _forked(self) -> bool:
        return os.getpid() != self._pid

    def __getstate__(self) -> Any:
        raise TypeError(
            f"a {self.owner} cannot be pickled (it holds a thread, and a store or connections): "
            f"make one in each process"
        )


async def _cancel_others() -> None:
    """Cancel every task of the running loop but this one, and wait until they have ended."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
