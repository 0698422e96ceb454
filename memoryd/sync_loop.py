"""A private event loop on a thread of its own: how the synchronous wrappers run async code.

:class:`memoryd.Memory` (over :class:`memoryd.AsyncMemory`) and :class:`memoryd.MemoryClient`
(over :class:`memoryd.AsyncMemoryClient`) each keep one; a call runs its coroutine there and
waits for it, so it also works where a loop is already running (notebooks, other frameworks).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """An event loop running on a daemon thread named ``name`` until :meth:`stop`."""

    def __init__(self, name: str, owner: str) -> None:
        self.owner = owner  # what a call after stop() names: "this Memory is closed"
        self.closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result (its exception is raised here)."""
        if self.closed:
            coro.close()
            raise RuntimeError(f"this {self.owner} is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def stop(self) -> None:
        """Stop the loop and its thread; later calls raise RuntimeError."""
        if self.closed:
            return
        self.closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
