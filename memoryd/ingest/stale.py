"""Whether a write planned without the owner's lock is stale when it comes to commit.

A background promotion (:meth:`memoryd.memory.AsyncMemory._long_term`) reads an owner's turns and
memories, then waits for the LLM (seconds) without the owner's write lock, so that the owner's
next write need not wait. What it then commits was planned from what it read: a memory it
rewrites (a NOOP gaining a source, an UPDATE, a closure) carries the rest of that memory as it
was. Committed over a change made meanwhile, it would undo it: a home the user's next add
superseded current again beside the new one, an edit's text gone back. Such a write is refused
whole; the promotion is retried on a later write, from fresh reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from memoryd.models import MemoryRecord
from memoryd.storage.base import ChangeSet, RecordStore

__all__ = ["stale"]


async def stale(
    records: RecordStore, read: Sequence[MemoryRecord], changes: ChangeSet, since: datetime
) -> str | None:
    """Why ``changes``, planned from the turns ``read`` and from memories read after ``since``,
    must not commit now (call it under the owner's write lock), or None: a turn deleted or edited
    since, or a memory it rewrites or deletes that was changed (edited, ended, deleted) since."""
    rewritten = [s.memory for s in changes.upserts if s.existing]
    ids = [e.id for e in read] + [m.id for m in rewritten] + list(changes.deletes)
    now = await records.get_many(ids)
    if any(e.id not in now or now[e.id].hash != e.hash for e in read):
        return "a turn was deleted or edited while the LLM read it"
    for m in rewritten:
        stored = now.get(m.id)
        ended = stored is not None and stored.valid_to is not None and m.valid_to is None
        if stored is None or stored.updated_at > since or ended:
            return f"memory {m.id!r} was changed while the LLM read it"
    for memory_id in changes.deletes:
        stored = now.get(memory_id)
        if stored is not None and stored.updated_at > since:
            return f"memory {memory_id!r} was changed while the LLM read it"
    return None
