"""The async pipeline's events a write applies, handed to :meth:`Storage.commit` without
threading them through every call in between (``AsyncMemory.add``, its planning, the hierarchy).

A worker (or the producer's synchronous path) runs an add inside :func:`applying_events`:
the add's first commit records each event (its id and the digest of its add) with its write
(:attr:`ChangeSet.events`), and fails whole if the same event is recorded already, so an event
is applied once whoever applies it. Another add recorded under the id (an id reused once its
status expired) is replaced by a worker's, and refused on the synchronous path as Redis refuses
it. An add that writes nothing (every message a duplicate) still records its events. An event
made before its user was erased (``delete_user`` marks the store, then deletes) is refused whole
(:class:`~memoryd.errors.EventErasedError`), however late its worker commits. A deletion the
queue marked (``DELETE /v1/users/{id}`` with the pipeline on) is compared on the queue's clock
with when the queue took the event, as workers compare it: an event enqueued after the queue's
mark is a new one, and stored, however long the deletion then took to reach the store.

In fine mode the add commits once, after the LLM calls: its episodes, facts, relations and
the episodes' place in the memory hierarchy, with the event. Two workers applying one event at
once (a stalled lease) may both call the LLM, but store its facts once; a retry of an event
whose worker died after the commit calls no LLM and brings back nothing deleted since.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = [
    "AppliedEvent",
    "AppliedRecord",
    "PendingEvents",
    "ProbeStopped",
    "applying_events",
    "is_probing",
    "pending_events",
    "probing",
]


@dataclass(frozen=True, slots=True)
class AppliedEvent:
    """One async-pipeline event a write applies."""

    event_id: str  # as stored in the stream (tenant-qualified)
    digest: str  # the add's fingerprint: the same id and digest are the same event
    replaces: bool = True  # another add recorded under the id: replaced (else a ConflictError)
    user_id: str | None = None  # whose add: refused if that user was erased after ``created_at``
    created_at: float | None = None  # when the event was made (epoch seconds, this host's clock)
    enqueued_ms: int | None = None  # when the queue took it (ms, the queue's clock): for its marks
    agent_id: str | None = None  # the rest of its scope: refused if a delete_all of a scope holding
    run_id: str | None = None  # it came after ``created_at``


@dataclass(frozen=True, slots=True)
class AppliedRecord:
    """What the store recorded of an event a write applied."""

    digest: str  # its add's fingerprint
    applied_at: float  # when (epoch seconds, the clock of the host that committed it)


@dataclass
class PendingEvents:
    """Events waiting for the first commit of the add they belong to."""

    events: list[AppliedEvent] = field(default_factory=list)
    recorded: bool = False  # a commit has taken them


class ProbeStopped(Exception):  # noqa: N818 - a control-flow signal, not an error
    """A commit inside :func:`probing`: the dry run ends here, nothing written."""


_pending: ContextVar[PendingEvents | None] = ContextVar("memoryd_pending_events", default=None)
_probing: ContextVar[bool] = ContextVar("memoryd_probing", default=False)


@contextmanager
def applying_events(events: Sequence[AppliedEvent]) -> Iterator[PendingEvents]:
    """Within the block (and the tasks it starts), the first commit records ``events``."""
    token = _pending.set(PendingEvents(list(events)) if events else None)
    try:
        yield _pending.get() or PendingEvents()
    finally:
        _pending.reset(token)


def pending_events() -> PendingEvents | None:
    """The events the next commit records, if any are waiting."""
    pending = _pending.get()
    return pending if pending is not None and not pending.recorded and pending.events else None


@contextmanager
def probing() -> Iterator[None]:
    """Within the block (and the tasks it starts), a commit raises :class:`ProbeStopped`."""
    token = _probing.set(True)
    try:
        yield
    finally:
        _probing.reset(token)


def is_probing() -> bool:
    return _probing.get()
