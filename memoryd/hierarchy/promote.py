"""Long-term processing of a promoted segment's turns: what "promotion" does.

A segment becomes hot (:mod:`memoryd.hierarchy.heat`) and its turns that were not
yet processed as far as this memory can go are processed now:

- **fast mode** (no LLM): the rule extractors — explicit self-statements
  (:mod:`memoryd.ingest.rules`) and feedback to the assistant
  (:mod:`memoryd.hierarchy.feedback`) — run over the turns. When ``context.fast_rules``
  is on they already ran when the turns were added, so promotion is then only a mark.
- **fine mode** (an LLM is configured): turns that were added in fast mode (``mode="fast"``,
  mem0's ``infer=false``, an LLM outage) go to the fine ingestor, one call for the session,
  exactly as if they had just been added, except that the episodes are not stored again.

Returns the processing level reached; below the memory's capability (the LLM failed)
the segment stays unmarked and is tried again on a later write. :class:`~memoryd.hierarchy.tiers.Tiers`
hands over one session's turns at a time and keeps the level of each session that succeeded,
so a retry sends only the sessions that failed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import numpy as np

from memoryd.hierarchy.models import LEVEL_LLM, LEVEL_NONE, LEVEL_RULES
from memoryd.ingest.fast import FastPlan
from memoryd.ingest.fine import Commit, FineIngestor
from memoryd.ingest.inputs import AddInput
from memoryd.ingest.represent import EpisodeIndex
from memoryd.models import AddResult, Event, MemoryRecord, Message
from memoryd.storage import ChangeSet, Storage

__all__ = ["ACTOR", "process_turns"]

ACTOR = "tiers:promote"
Rules = Callable[[list[MemoryRecord], datetime, ChangeSet], Awaitable[list[AddResult]]]


async def _no_index() -> EpisodeIndex:
    return EpisodeIndex(np.zeros((0, 0), dtype=np.float32), [])


async def process_turns(
    episodes: Sequence[MemoryRecord],
    *,
    storage: Storage,
    rules: Rules,
    fine: FineIngestor | None,
    now: datetime,
    commit: Commit | None = None,
) -> int:
    """Process ``episodes`` (turns of one session, in the order they were said) into long-term
    memory; the level reached. ``commit``: how fine mode's changes are committed (default: the
    store's)."""
    if fine is None:
        changes = ChangeSet()
        await rules(list(episodes), now, changes)
        await storage.commit(changes)
        return LEVEL_RULES
    # The turns are stored already: the ingestor must not show them again as "earlier" context.
    fine = FineIngestor(
        fine.storage, fine.embed, fine.router, fine.config.model_copy(update={"context_messages": 0}),
        fine.represent,
    )  # fmt: skip
    turns = list(episodes)
    data = AddInput(
        messages=[Message(m.text, m.role or "user", m.actor) for m in turns],
        times=[m.event_time for m in turns],
        scope=turns[0].scope,
        metadata={},
        mode="fine",
    )
    plan = FastPlan([AddResult(Event.ADD, i, m.id, m.text, memory=m) for i, m in enumerate(turns)], [])
    out = await fine.add(data, plan, _no_index(), now, f"{ACTOR}/fine", commit=commit)
    return LEVEL_LLM if out.llm is not None and out.llm.complete else LEVEL_NONE
