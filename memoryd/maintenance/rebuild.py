"""Index representations rebuilt from stored memories: the vector and terms ``add`` would write.

Used by ``memoryd reindex`` (every memory, from the record store) and by
``memoryd import`` when the file's vectors cannot be reused (another embedder).
Memories come oldest first, as the scans list them. A turn of a session
(``run_id``) is indexed with the episode before it in that session, as
:class:`memoryd.ingest.represent.Represent` does at ingestion (the latest within the turn's
scope: a turn stored without an agent follows any agent's turn): its vector mixes
in ``index.context_weight`` of the previous turn's, its terms take the previous
turn's when short. The previous turn of each of the ``sessions`` most recently
seen sessions is remembered (line and embedding); beyond that a turn is indexed
without context, so memory stays bounded however many sessions a store holds.

What may differ from ingestion: a turn that followed an exact duplicate (a NOOP,
never stored) is indexed with the stored turn before it, and a turn whose text was
later updated gets its context back.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import numpy as np

from memoryd.config import Settings
from memoryd.embedders import Embedder
from memoryd.embedders.base import checked_vectors, embedder_identity, make_embedder
from memoryd.errors import BackendUnavailableError, MemorydError
from memoryd.ingest.represent import Represent
from memoryd.models import MemoryKind, MemoryRecord
from memoryd.registry import resolve
from memoryd.storage import StoredMemory

__all__ = ["Embed", "IndexBuilder", "Progress", "embed_with", "identity", "load_embedder"]

Embed = Callable[[Sequence[str]], Awaitable[np.ndarray]]
Speaker = tuple[str | None, str | None]  # (user_id, agent_id) of a session's turn


class Progress(Protocol):
    """Told how a long job advances: ``phase`` names the step (a bar per phase), ``advance``
    how many more items are done, ``total`` how many the phase has (None: unknown)."""

    def __call__(self, phase: str, advance: int, total: int | None) -> None: ...


def identity(settings: Settings, embedder: Embedder | None = None) -> tuple[str, int]:
    """The (model name, dimension) a store opened with these settings holds, without loading it."""
    if embedder is not None:
        return str(embedder.name), int(embedder.dim)
    cfg = settings.embedder
    return embedder_identity(resolve("embedder", cfg.provider), cfg)


def load_embedder(settings: Settings) -> Embedder:
    """The configured embedding model (loaded now)."""
    cfg = settings.embedder
    return make_embedder(resolve("embedder", cfg.provider), cfg)


def embed_with(embedder: Embedder) -> Embed:
    """An async ``embed`` that runs the (CPU-bound, synchronous) model off the event loop and
    refuses what must never be written into an index (vectors of another count or size, NaN,
    all-zero: :func:`~memoryd.embedders.base.checked_vectors`), as the memory's own runner does; a
    model that crashes is :class:`~memoryd.errors.BackendUnavailableError`, as there too."""

    async def embed(texts: Sequence[str]) -> np.ndarray:
        try:
            vectors = await asyncio.to_thread(embedder.embed, list(texts))
        except MemorydError:
            raise
        except Exception as exc:  # a model crashing (out of memory) is the embedder failing, as in a write
            raise BackendUnavailableError(
                f"the embedder {embedder.name!r} failed: {type(exc).__name__}: {exc}", field="embedder"
            ) from exc
        return checked_vectors(vectors, len(texts), int(embedder.dim), str(embedder.name))

    return embed


class IndexBuilder:
    """Builds :class:`StoredMemory` (record, vector, terms) for stored memories, in order."""

    def __init__(self, represent: Represent, embed: Embed | None, *, sessions: int = 4096) -> None:
        """``embed`` None: terms only (the vectors are left as they are, no model runs)."""
        self.represent = represent
        self.embed = embed
        self.sessions = sessions
        # Per session (run_id), most recently seen last: each (user, agent)'s last turn, numbered.
        self._last: OrderedDict[str, dict[Speaker, tuple[int, str, np.ndarray | None]]] = OrderedDict()
        self._seen = 0

    def _session(self, memory: MemoryRecord) -> str | None:
        if memory.kind is not MemoryKind.EPISODE or memory.run_id is None or not self.represent.uses_context:
            return None
        return memory.run_id

    def _before(
        self, memory: MemoryRecord, turns: dict[Speaker, tuple[int, str, np.ndarray | None]]
    ) -> tuple[str, np.ndarray | None] | None:
        """The turn ingestion took as this one's previous: the session's latest turn within the
        memory's scope, where a scope without a user (agent) matches any (``records.latest``)."""
        found = [
            t
            for (user, agent), t in turns.items()
            if memory.user_id in (None, user) and memory.agent_id in (None, agent)
        ]
        if not found:
            return None
        _, line, vector = max(found, key=lambda t: t[0])
        return line, vector

    def passed(self, memories: Sequence[MemoryRecord]) -> None:
        """Memories that keep the index they have (oldest first, between those :meth:`build` is
        given): each is still the previous turn of the next one of its session. Their lines are
        remembered; the embedding of one is made only if a built turn needs it to mix in."""
        for memory in memories:
            key = self._session(memory)
            if key is not None:
                self._remember(key, memory, self.represent.line(memory), None)

    def _remember(self, key: str, memory: MemoryRecord, line: str, raw: np.ndarray | None) -> None:
        turns = self._last.pop(key, {})
        self._seen += 1
        turns[(memory.user_id, memory.agent_id)] = (self._seen, line, raw)
        self._last[key] = turns
        while len(self._last) > self.sessions:
            self._last.popitem(last=False)

    def _unembedded_before(self, memories: Sequence[MemoryRecord]) -> list[str]:
        """The lines of the previous turns (remembered by :meth:`passed`, never embedded) that
        ``memories`` will mix in: the turns before them in their sessions, as :meth:`build` finds
        them, outside the batch."""
        if self.embed is None or self.represent.config.context_weight <= 0:
            return []
        state = {key: dict(turns) for key, turns in self._last.items()}
        inside = np.zeros(0, dtype=np.float32)  # stands for a turn of this batch: embedded with it
        needed: dict[str, None] = {}
        for i, memory in enumerate(memories):
            key = self._session(memory)
            if key is None:
                continue
            turns = state.setdefault(key, {})
            before = self._before(memory, turns)
            if before is not None and before[1] is None:
                needed[before[0]] = None
            turns[(memory.user_id, memory.agent_id)] = (self._seen + i + 1, "", inside)
        return list(needed)

    async def build(self, memories: Sequence[MemoryRecord]) -> list[StoredMemory]:
        """Vectors and terms of ``memories`` (oldest first), one embedding call for the batch (and
        the previous turns it needs that :meth:`passed` only named); without a model (``embed``
        None), their terms only."""
        if not memories:
            return []
        lines = [self.represent.line(m) for m in memories]
        extra = self._unembedded_before(memories)
        raw = None
        if self.embed is not None:
            raw = np.asarray(await self.embed(lines + extra), dtype=np.float32)
            found = dict(zip(extra, raw[len(lines) :], strict=True))
            for turns in self._last.values():
                for speaker, (seen, line, vector) in list(turns.items()):
                    if vector is None and line in found:
                        turns[speaker] = (seen, line, found[line])
        weight = self.represent.config.context_weight
        out: list[StoredMemory] = []
        for i, memory in enumerate(memories):
            own = None if raw is None else raw[i]
            key = self._session(memory)
            if key is None:
                out.append(StoredMemory(memory, own, self.represent.terms(memory)))
                continue
            turns = self._last.pop(key, {})
            before = self._before(memory, turns)
            vector = own
            if own is not None and before is not None and before[1] is not None and weight > 0:
                mixed = own + weight * before[1]
                vector = (mixed / max(float(np.linalg.norm(mixed)), 1e-12)).astype(np.float32)
            terms = self.represent.terms(memory, before[0] if before is not None else None)
            out.append(StoredMemory(memory, vector, terms))
            self._last[key] = turns
            self._remember(key, memory, lines[i], own)
        return out
