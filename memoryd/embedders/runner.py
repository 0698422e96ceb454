"""How the memory core runs its (synchronous, CPU-bound) embedder from async code.

- Texts embedded a moment ago come from :class:`RecentEmbeddings` (a chat turn's text is
  looked up, then stored, then read back as the next turn's context: embedded once).
- Texts to store are handed at once to the ingest thread, in order, so the caller — or
  the event loop's other work — goes on while the model runs.
- Urgent texts (someone waits for them alone: a search's query, an add's few rule
  memories) never queue behind pending ingest batches. A few short ones that the model says
  cost about a millisecond and no I/O (``inline_texts``, ``inline_bytes`` bytes of UTF-8 in
  all) are embedded on the spot: a thread hop would cost a third of that again. Others get a
  thread of their own: a long query embedded on the spot held the event loop for tens of ms,
  with no caller's timeout (the chat gateway's memory lookup) able to fire meanwhile. Bytes,
  not characters: a model's cost is about per token, and a Chinese or Japanese character is
  about one token (three bytes) where English takes four characters (four bytes) to one; 200
  Chinese characters took twice as long as 200 English ones. A model that declares
  ``inline_texts`` but no ``inline_bytes`` has :data:`INLINE_BYTES` (a short query's worth).
- A model that crashes is a dependency down (:class:`BackendUnavailableError`, 503), not
  a bad request; so is one that answers with vectors of another count or size, NaN or
  all-zero: those never reach the index, where one would break every search of its scope.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from memoryd.embedders.base import Embedder, checked_vectors
from memoryd.embedders.recent import RecentEmbeddings
from memoryd.errors import BackendUnavailableError, MemorydError

__all__ = ["INLINE_BYTES", "EmbeddingRunner"]

# Bytes of UTF-8 in all of the urgent texts embedded on the spot when the model declares
# ``inline_texts`` and not ``inline_bytes``: a search query of a line or two (~50 tokens).
INLINE_BYTES = 200


class EmbeddingRunner:
    """Runs ``model()`` (the embedder, loaded on first use) for ingest and for queries."""

    def __init__(self, model: Callable[[], Embedder]) -> None:
        self._model = model
        self.recent = RecentEmbeddings()
        self._ingest = ThreadPoolExecutor(1, thread_name_prefix="memoryd-embed")
        self._urgent = ThreadPoolExecutor(1, thread_name_prefix="memoryd-embed-urgent")

    async def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of texts to store (one thread: ingest batches run in order)."""
        return await self.soon(texts)

    async def query(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of a query: on the spot when cheap, else on the urgent thread."""
        return await self.soon(texts, urgent=True)

    def soon(self, texts: Sequence[str], *, urgent: bool = False) -> asyncio.Future[np.ndarray]:
        """The vectors of ``texts``, asked for now; ``urgent``: they skip the ingest queue (see
        the module doc)."""
        texts = list(texts)
        loop = asyncio.get_running_loop()
        known = self.recent.known(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        model = self._model()  # loaded here, on the event loop, not by two threads at once
        if missing and not (urgent and _cheap(model, missing)):
            pool = self._urgent if urgent else self._ingest
            return loop.run_in_executor(pool, self._vectors, texts, known, missing)
        done: asyncio.Future[np.ndarray] = loop.create_future()
        try:
            done.set_result(self._vectors(texts, known, missing))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits
            done.set_exception(exc)
        return done

    def _vectors(self, texts: list[str], known: dict[str, np.ndarray], missing: list[str]) -> np.ndarray:
        """Embed ``missing``, remember them, and stack the vectors of ``texts`` (any thread)."""
        model = self._model()
        if missing:
            try:
                fresh = model.embed(missing)
            except MemorydError:
                raise
            except Exception as exc:  # a model crashing is a dependency down (503), not a bad request
                raise BackendUnavailableError(
                    f"the embedder {model.name!r} failed: {type(exc).__name__}: {exc}", field="embedder"
                ) from exc
            fresh = checked_vectors(fresh, len(missing), int(model.dim), str(model.name))
            self.recent.remember(missing, fresh)
            known = {**known, **dict(zip(missing, fresh, strict=True))}
        if not texts:
            return np.zeros((0, model.dim), dtype=np.float32)
        return np.stack([known[t] for t in texts]).astype(np.float32, copy=False)

    def close(self) -> None:
        self._ingest.shutdown(wait=True)
        self._urgent.shutdown(wait=True)


def _cheap(model: Embedder, texts: list[str]) -> bool:
    """``texts`` are few and short enough for ``model`` to embed on the spot (see the module doc);
    a lone surrogate (not UTF-8) counts as the three bytes it would take."""
    if len(texts) > getattr(model, "inline_texts", 0):
        return False
    size = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    return size <= getattr(model, "inline_bytes", INLINE_BYTES)
