"""The async pipeline's event ids a write applies, handed to :meth:`Storage.commit` without
threading them through every call in between (``AsyncMemory.add``, its planning, the hierarchy).

A worker (or the producer's synchronous path) runs a fast-mode add inside
:func:`applying_events`: the add's first commit records the ids with its write
(:attr:`ChangeSet.events`), and fails whole if one is recorded already, so an event is
applied once whoever applies it. Fine mode is not covered: its add commits in several steps,
and a retry must run the steps a failure left undone (its episodes are NOOPs by content then).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["PendingEvents", "applying_events", "pending_events"]


@dataclass
class PendingEvents:
    """Ids waiting for the first commit of the add they belong to."""

    ids: list[str] = field(default_factory=list)
    recorded: bool = False  # a commit has taken them


_pending: ContextVar[PendingEvents | None] = ContextVar("memoryd_pending_events", default=None)


@contextmanager
def applying_events(event_ids: Sequence[str]) -> Iterator[PendingEvents]:
    """Within the block (and the tasks it starts), the first commit records ``event_ids``."""
    token = _pending.set(PendingEvents(list(event_ids)) if event_ids else None)
    try:
        yield _pending.get() or PendingEvents()
    finally:
        _pending.reset(token)


def pending_events() -> PendingEvents | None:
    """The ids the next commit records, if any are waiting."""
    pending = _pending.get()
    return pending if pending is not None and not pending.recorded and pending.ids else None
