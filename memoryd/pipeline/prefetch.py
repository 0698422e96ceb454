"""Batched embeddings across the scopes of one worker batch.

:meth:`AsyncMemory.add` embeds one call's messages at a time, and a call has one
scope; a batch of events from many users becomes many small calls, and small
embedding batches are several times slower per text than large ones. So a
worker's memory is given a :class:`PrefetchEmbedder`.

Before it takes the locks of the users a batch adds for, the worker :meth:`warms
<PrefetchEmbedder.warm>` it with the line of every message of the batch (what an
add embeds for a message: :meth:`Represent.message_line`), in one batched call:
the model's work, most of a batch's, then overlaps with another worker's
commits for the same users instead of waiting for their locks.

What an add also asks for that no message foretells (a session's previous turn,
read from the store) is found by *probing* the calls of sessions once the locks
are held: each call runs until it asks for its embeddings (validation, the
duplicate lookup and the session context are read, nothing is written: fast mode
writes only after embedding) and is stopped there (or at its commit, if its
texts were embedded a moment ago). Every text the calls asked for that is not
cached yet is then embedded in one batched call, and the calls run for real with
their vectors cached. A text nothing foresaw (a later call of the same session,
whose context turn is written by the call before it) is embedded when asked for,
as usual. The cache is emptied after every batch.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence

import numpy as np

from memoryd.embedders import Embedder
from memoryd.storage.events import probing

__all__ = ["PrefetchEmbedder"]


class _Probe(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside ``embed`` to stop a probed call before it writes anything."""


class PrefetchEmbedder:
    """An :class:`Embedder` around another, with a per-batch cache filled by :meth:`prefetch`."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._cache: dict[str, np.ndarray] = {}
        self._recording: list[str] | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            if self._recording is not None:
                self._recording.extend(texts)
                raise _Probe
            cache = self._cache  # replaced whole by prefetch/clear, never changed in place
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        computed = dict(zip(missing, self.inner.embed(missing))) if missing else {}
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([cache[t] if t in cache else computed[t] for t in texts])

    async def warm(self, texts: Sequence[str]) -> int:
        """Embed ``texts`` not cached yet, in one batch, and cache them (with what is cached).
        Returns how many texts were embedded."""
        with self._lock:
            cache = self._cache
        unique = [t for t in dict.fromkeys(texts) if t not in cache]
        if not unique:
            return 0
        vectors = await asyncio.to_thread(self.inner.embed, unique)
        with self._lock:
            self._cache = {**self._cache, **dict(zip(unique, vectors))}
        return len(unique)

    async def prefetch(self, probes: Sequence[Callable[[], Awaitable[object]]]) -> int:
        """Run each probe (an ``add`` call) up to its embedding request, then embed every text
        requested in one batch. Returns how many texts were embedded."""
        with self._lock:
            self._recording = []
        try:
            # A call that fails fails again for real. One whose texts were all embedded a moment
            # ago asks for nothing here: its commit is what stops it (probing), so none writes.
            with probing():
                await asyncio.gather(*(p() for p in probes), return_exceptions=True)
        finally:
            with self._lock:
                texts, self._recording = self._recording or [], None
        return await self.warm(texts)

    def clear(self) -> None:
        with self._lock:
            self._cache = {}
