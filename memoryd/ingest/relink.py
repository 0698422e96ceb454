"""A session's index after one of its turns is edited or deleted.

A turn is indexed with the turn before it in its session (its words, and a share of its
vector: :mod:`memoryd.ingest.represent`), so that an answer is found through its question.
Editing or deleting a turn must then re-index its neighbours too, or the old words stay
findable through the next turn ("Okay, noted." matching the PIN it followed): the next turn
is indexed again with its new predecessor (the edited text, or the turn before the deleted
one), and an edited turn with its own predecessor, exactly as an add would have indexed them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import numpy as np

from memoryd.filters import EPISODES
from memoryd.ingest.represent import Represent
from memoryd.models import MemoryKind, MemoryRecord, Scope
from memoryd.storage import RecordStore, StoredMemory

__all__ = ["relinked"]

Embed = Callable[[Sequence[str]], Awaitable[np.ndarray]]



Pair = tuple[MemoryRecord | None, MemoryRecord | None]


async def _neighbours(records: RecordStore, turn: MemoryRecord) -> Pair:
    """The turns just before and just after ``turn`` in its session, in stored order."""
    return await records.neighbours(Scope(turn.user_id, turn.agent_id, turn.run_id), EPISODES, turn.id)


async def relinked(
    represent: Represent,
    embed: Embed,
    records: RecordStore,
    turn: MemoryRecord,
    edited: MemoryRecord | None,
) -> list[StoredMemory]:
    """The index entries to write with an edit of ``turn`` to ``edited`` (its new record), or
    with its delete (``edited`` None): the edited turn's own first, then its successor's. A
    turn outside a session, or an index that mixes in no context, has no neighbours to mind."""
    in_session = turn.kind is MemoryKind.EPISODE and turn.run_id is not None and represent.uses_context
    before, after = await _neighbours(records, turn) if in_session else (None, None)
    middle = edited  # what the successor follows from now on: the edited turn, or what preceded
    chain = [(edited, before)] if edited is not None else []
    if after is not None:
        chain.append((after, middle if middle is not None else before))
    if not chain:
        return []
    lines = {represent.line(m) for m, _ in chain} | {represent.line(p) for _, p in chain if p is not None}
    texts = sorted(lines)
    vectors = dict(zip(texts, await embed(texts), strict=True))
    weight = represent.config.context_weight
    out = []
    for memory, previous in chain:
        prev_line = represent.line(previous) if previous is not None else None
        vector = vectors[represent.line(memory)].astype(np.float32)
        if weight > 0 and prev_line is not None:
            vector = vector + weight * vectors[prev_line]
            vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        terms = represent.terms(memory, prev_line)
        out.append(StoredMemory(memory, vector.astype(np.float32), terms, existing=True))
    return out
