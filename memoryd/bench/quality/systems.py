"""The systems a quality run compares, behind one small interface.

* :class:`MemorydSystem` — memoryd through its public async API, exactly as an
  application uses it: one ``add`` per session with every turn as a message
  ``{role, content, name, id}``, ``run_id`` = the session, ``timestamp`` = the
  session date; then ``search(question, user_id=…, limit=…)``. ``add`` takes
  metadata per call, not per message, so each turn's id travels as the
  message ``id`` and comes back as the memory's ``source_ids``. An exact
  duplicate turn in the same session is a ``NOOP`` naming the memory it
  duplicates; a hit on that memory stands for both turns.
* :class:`BM25System` — :mod:`memoryd.bench.quality.bm25_baseline`, one index per user,
  each turn indexed as ``"speaker: text"`` when it has a speaker (LoCoMo; memoryd
  gets the same name as the message's ``name``). That is how the published BM25
  floors are reproduced: on the LoCoMo dev split text alone gives turn any@10
  0.62 and session any@5 0.88, with the speaker 0.64 and 0.89.
* :class:`Mem0System` — mem0 (``infer=False``, local Qdrant) through
  :class:`memoryd.bench.mem0_baseline.Mem0Baseline`, each turn's text added on its own
  (the adapter takes plain text: no role or speaker) with its id in metadata.

Systems see only a turn's ``alias`` and a session's ``alias``; a search returns
:class:`Retrieved` hits naming the aliases they stand for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from memoryd.bench.quality.bm25_baseline import BM25Index, bm25_tokens
from memoryd.bench.quality.data import Unit
from memoryd.config import Settings
from memoryd.embedders import Embedder
from memoryd.memory import AsyncMemory
from memoryd.models import Event

__all__ = ["SYSTEMS", "BM25System", "Mem0System", "MemorydSystem", "Retrieved", "System"]

SYSTEMS = ("memoryd", "bm25", "mem0")


@dataclass(frozen=True, slots=True)
class Retrieved:
    """One search hit: the turn aliases it stands for, its score and its text."""

    aliases: tuple[str, ...]
    score: float
    text: str


class System(Protocol):
    name: str

    async def ingest(self, unit: Unit) -> None: ...

    async def search(
        self, user_id: str, query: str, limit: int, now: datetime | None = None
    ) -> list[Retrieved]:
        """Top ``limit`` hits; ``now`` is the question's date, when the dataset has one."""
        ...

    async def close(self) -> None: ...

    def stats(self) -> dict[str, Any]: ...


class MemorydSystem:
    """memoryd's :class:`AsyncMemory` on a fresh SQLite file."""

    name = "memoryd"

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.memory = AsyncMemory(settings, embedder=embedder)
        self._duplicates: dict[str, list[str]] = {}  # memory id -> aliases of NOOPed identical turns
        self._turn_of: dict[str, str] = {}  # episode memory id -> its turn's alias
        self.derived = 0  # memories memoryd derived from turns (fast-mode rules, fine-mode facts)
        self.added = 0
        self.noops = 0

    async def ingest(self, unit: Unit) -> None:
        per_call = self.memory.settings.limits.max_messages_per_add
        for session in unit.sessions:
            messages = [
                {
                    "role": t.role,
                    "content": t.text,
                    "id": t.alias,
                    **({"name": t.speaker} if t.speaker else {}),
                }
                for t in session.turns
            ]
            for start in range(0, len(messages), per_call):
                chunk = messages[start : start + per_call]
                results = await self.memory.add(
                    chunk, user_id=unit.user_id, run_id=session.alias, timestamp=session.date
                )
                episodes = [r for r in results if r.kind == "episode"]
                self.derived += sum(1 for r in results if r.kind != "episode" and r.event == Event.ADD)
                for message, result in zip(chunk, episodes, strict=True):
                    if result.id:
                        self._turn_of.setdefault(result.id, str(message["id"]))
                    if result.event == Event.NOOP and result.id:
                        self._duplicates.setdefault(result.id, []).append(str(message["id"]))
                        self.noops += 1
                    elif result.event == Event.ADD:
                        self.added += 1

    async def search(
        self, user_id: str, query: str, limit: int, now: datetime | None = None
    ) -> list[Retrieved]:
        hits = await self.memory.search(query, user_id=user_id, limit=limit, reference_time=now)
        # A derived memory (a rule's or the LLM's fact) stands for the turns it came from.
        return [
            Retrieved(
                (
                    *(self._turn_of.get(s, s) for s in h.memory.source_ids),
                    *self._duplicates.get(h.memory.id, ()),
                ),
                float(h.score),
                h.memory.text,
            )
            for h in hits
        ]

    async def close(self) -> None:
        await self.memory.close()

    def stats(self) -> dict[str, Any]:
        return {"memories": self.added, "duplicate_turns_noop": self.noops, "derived_memories": self.derived}


class BM25System:
    """Plain Okapi BM25 over each user's turns."""

    name = "bm25"

    def __init__(self) -> None:
        self._indexes: dict[str, tuple[BM25Index, list[str], list[str]]] = {}

    async def ingest(self, unit: Unit) -> None:
        turns = [t for s in unit.sessions for t in s.turns]
        index = BM25Index([bm25_tokens(f"{t.speaker}: {t.text}" if t.speaker else t.text) for t in turns])
        self._indexes[unit.user_id] = (index, [t.alias for t in turns], [t.text for t in turns])

    async def search(
        self, user_id: str, query: str, limit: int, now: datetime | None = None
    ) -> list[Retrieved]:
        index, aliases, texts = self._indexes[user_id]
        return [
            Retrieved((aliases[i],), score, texts[i]) for i, score in index.search(bm25_tokens(query), limit)
        ]

    async def close(self) -> None:
        self._indexes.clear()

    def stats(self) -> dict[str, Any]:
        return {"documents": sum(index.size for index, _, _ in self._indexes.values())}


class Mem0System:
    """mem0 with raw adds (``infer=False``), the same embedder, local Qdrant under ``workdir``."""

    name = "mem0"

    def __init__(self, embed: Callable[[list[str]], np.ndarray], dim: int, workdir: Path) -> None:
        from memoryd.bench.mem0_baseline import Mem0Baseline

        self.base = Mem0Baseline(embed, dim, workdir)
        self.added = 0

    async def ingest(self, unit: Unit) -> None:
        for session in unit.sessions:
            for turn in session.turns:
                self.base.add(turn.text, user_id=unit.user_id, metadata={"turn_id": turn.alias})
                self.added += 1

    async def search(
        self, user_id: str, query: str, limit: int, now: datetime | None = None
    ) -> list[Retrieved]:
        rows = self.base.search(query, user_id=user_id, limit=limit)
        return [Retrieved((str(meta.get("turn_id")),), score, text) for text, score, meta in rows]

    async def close(self) -> None:
        self.base.close()

    def stats(self) -> dict[str, Any]:
        return {"memories": self.added}
