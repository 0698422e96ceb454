"""The event queue's roles, as Protocols, and the plain data they exchange.

One backend (``memoryd.pipeline.redis_queue``, Redis Streams) implements all
three roles; the producer, the worker and the CLI only ever see these:

- :class:`EventLog`: what producers need — enqueue idempotently on ``event_id``,
  read an event's status, counters for ``/health`` and ``/metrics``.
- :class:`WorkQueue`: what workers need — read and reclaim deliveries, take an
  event's processing lock, record outcomes atomically, heartbeats.
- :class:`DeadLetters`: list, replay and purge the dead-letter stream.

:class:`EventQueue` is all three at once, which is what a backend provides.

Every method raises :class:`~memoryd.errors.StorageError` when the queue cannot
be reached; nothing else about the driver leaks out.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from memoryd.pipeline.events import EventStatus, PipelineEvent
from memoryd.pipeline.keys import Keys

__all__ = [
    "Begin",
    "Between",
    "DeadLetter",
    "DeadLetters",
    "Delivery",
    "Enqueued",
    "EventLog",
    "EventQueue",
    "EventRecord",
    "Outcome",
    "QueueStats",
    "Replayed",
    "Staged",
    "WorkQueue",
    "is_entry_id",
]

# What a deletion runs before the queue's sweep: the store's erasure, given the deletion's time (ms, the
# queue's clock); Pipeline.forget_user's. The queue's own (EventLog.forget_user) is also given what marks
# the deletion in the queue, which it awaits once the store's mark is committed (the deletion has begun).
Between = Callable[[int], Awaitable[None]]
Staged = Callable[[int, Callable[[], Awaitable[None]]], Awaitable[None]]

_ENTRY_ID = re.compile(r"(0|[1-9][0-9]*)-(0|[1-9][0-9]*)")
_ENTRY_PART_MAX = 2**64 - 1  # each part of a Redis stream id is an unsigned 64-bit number


def is_entry_id(text: str) -> bool:
    """Whether ``text`` is a whole stream entry id, ``<ms>-<seq>``, written as Redis writes it: Redis
    reads ``<ms>`` alone as every entry of that millisecond, ``01-0`` as ``1-0`` (another spelling of
    one entry), and refuses a part past 2**64 - 1 ("Invalid stream ID")."""
    match = _ENTRY_ID.fullmatch(text)
    return match is not None and all(int(part) <= _ENTRY_PART_MAX for part in match.groups())


@dataclass(frozen=True)
class EventRecord:
    """An event's status record, as ``GET /v1/events/{event_id}`` shows it."""

    event_id: str
    status: EventStatus
    attempts: int = 0
    source: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    finished_at: str | None = None
    stream_id: str | None = None
    consumer: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    retry_at: str | None = None
    dlq_id: str | None = None
    owner: str | None = None  # the user_id the event's add is for (not shown: access checks only)
    digest: str | None = None  # the fingerprint of the add it was enqueued with (not shown)
    pipeline: str | None = None  # "bypassed": known from the store only, applied synchronously here

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "event_id": self.event_id,
            "status": self.status.value,
            "attempts": self.attempts,
        }
        for name in ("source", "created_at", "updated_at", "finished_at", "stream_id", "consumer"):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        for name in ("result", "error", "retry_at", "dlq_id", "pipeline"):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        return body


@dataclass(frozen=True)
class Enqueued:
    """What enqueueing did: a new stream entry, or nothing because the id was known."""

    event_id: str
    created: bool
    stream_id: str | None
    existing: EventRecord | None = None


@dataclass(frozen=True)
class Delivery:
    """One stream entry handed to a worker; ``deliveries`` counts how often it was handed out."""

    stream_id: str
    fields: dict[str, str]
    deliveries: int = 1


@dataclass(frozen=True)
class Begin:
    """The answer to taking an event's lock (``conflict``: the event's status record is another
    add's, one that reused its id after its own status expired)."""

    state: Literal["claimed", "duplicate", "busy", "conflict"]
    status: EventStatus | None = None  # the status found before


@dataclass(frozen=True)
class Outcome:
    """How one delivery ended; :meth:`WorkQueue.finish` records a batch of them atomically.

    - ``done``: processed; ``result`` is stored, the entry acknowledged, the lock released.
    - ``retry``: ``event`` (the next attempt) waits ``delay_ms`` (on the queue's clock, not the
      worker's), then goes back on the stream.
    - ``dead``: the entry (``fields``) goes to the dead-letter stream with ``error``.
    - ``ack``: acknowledged without processing (a duplicate delivery or an empty entry).
    """

    kind: Literal["done", "retry", "dead", "ack"]
    delivery: Delivery
    event_id: str | None = None
    result: dict[str, Any] | None = None
    event: PipelineEvent | None = None
    delay_ms: int = 0
    error: dict[str, Any] | None = None
    attempts: int = 0


@dataclass(frozen=True)
class DeadLetter:
    """One entry of the dead-letter stream."""

    dlq_id: str
    event_id: str | None
    fields: dict[str, str]
    error: dict[str, Any]
    attempts: int
    dead_at: str | None
    stream_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dlq_id": self.dlq_id,
            "event_id": self.event_id,
            "error": self.error,
            "attempts": self.attempts,
            "dead_at": self.dead_at,
            "stream_id": self.stream_id,
            "event": self.fields,
        }


@dataclass(frozen=True)
class Replayed:
    """What a replay of dead letters did (or, a dry run, would do), by DLQ id: ``letters`` were
    moved back to the stream (``stream_ids``: their new entry ids; none in a dry run);
    ``conflicts`` stay in the DLQ: their event id names another add now (it was reused after their
    status expired), which the replay would have been taken for and dropped as a duplicate of;
    ``finished`` were removed: their event is done already; ``gone`` were no longer in the DLQ
    (another replay or a purge took them since they were listed)."""

    letters: list[str] = field(default_factory=list)
    stream_ids: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QueueStats:
    """The queue as ``/health`` and ``/metrics`` report it."""

    stream_length: int
    lag: int | None  # entries not yet delivered to the group (None: Redis cannot tell)
    pending: int  # delivered, not yet acknowledged
    dlq_size: int
    retry_scheduled: int
    consumers: int  # the group's, as Redis keeps them: a killed worker's stays until it is removed
    counters: dict[str, int] = field(default_factory=dict)
    workers: list[dict[str, Any]] = field(default_factory=list)  # alive workers' last heartbeats
    dead_consumers: int = 0  # of the group's consumers, those with no live worker (no heartbeat)

    @property
    def rate(self) -> float:
        """Events per second over the last minute, summed over live workers."""
        return round(sum(float(w.get("rate", 0.0)) for w in self.workers), 3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream_length": self.stream_length,
            "lag": self.lag,
            "pending": self.pending,
            "dlq_size": self.dlq_size,
            "retry_scheduled": self.retry_scheduled,
            "workers_alive": len(self.workers),
            "group_consumers": self.consumers,
            "consumers": self.consumers,  # its earlier name, kept for existing probes
            "dead_consumers": self.dead_consumers,
            "processing_rate": self.rate,
            "counters": self.counters,
        }


class EventLog(Protocol):
    """The producer's side."""

    async def ensure_group(self) -> None: ...

    async def enqueue(self, event: PipelineEvent, also: tuple[str, ...] = ()) -> Enqueued:
        """Queue ``event`` once per event id. ``also``: other digests its add may have been queued
        under before (the body as sent), so that a retry is counted a duplicate, a conflict not."""
        ...

    async def enqueue_many(self, events: list[PipelineEvent]) -> list[Enqueued]: ...

    async def status(self, event_id: str) -> EventRecord | None: ...

    async def forget_user(self, tenant: str, user_id: str | None, between: Staged | None = None) -> int:
        """Record that ``user_id`` of ``tenant`` (``None``: every user, a reset) is deleted now, on
        the queue's clock (returned, in ms): workers skip such events enqueued before then (still
        queued, waiting for a retry, or replayed later), compared with when the queue took them
        (:attr:`PipelineEvent.enqueued_ms`), not with any host's clock. ``between`` (the store's
        erasure) runs with that time and with what marks the deletion in the queue, which it awaits
        once the store's own mark is committed (the deletion has begun: the store refuses those
        events), so that workers skip them from then on. When it fails before that, nothing is
        marked or swept; after it, the queue is marked and swept all the same. What the queue holds
        of them goes: their entries in the stream, the retry set and the dead letters, and the
        status records of their events, finished ones included."""
        ...

    async def stats(self) -> QueueStats: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class WorkQueue(Protocol):
    """The worker's side."""

    async def ensure_group(self) -> None: ...

    async def read(
        self, consumer: str, count: int, block_ms: int | None, *, own: bool = False, recount: bool = True
    ) -> list[Delivery]:
        """New entries (``own``: this consumer's pending ones, after a restart; with ``recount``
        False, read without counting one more delivery, as after a Redis failure)."""
        ...

    async def claim_idle(self, consumer: str, min_idle_ms: int, count: int) -> list[Delivery]: ...

    async def forgotten(
        self, users: list[tuple[str, str | None]]
    ) -> dict[tuple[str, str | None], int]:
        """When each of these (tenant, user_id) was last deleted (ms), by itself or by a reset of its
        tenant (a ``None`` user: by a reset only), for those that were."""
        ...

    async def move_due_retries(self, limit: int) -> int: ...

    async def time_ms(self) -> int:
        """The queue's clock (ms): the one heartbeats, retries and enqueue times are read on."""
        ...

    async def begin(
        self, items: list[tuple[str, int, str, str]], consumer: str, lease_ms: int
    ) -> list[Begin]:
        """Take the lock of each ``(event_id, attempts, stream_id, digest)``, unless it is finished or
        its status record is another add's (``digest`` "": not compared)."""
        ...

    async def finish(self, outcomes: list[Outcome], consumer: str, ttl_s: int) -> None: ...

    async def keepalive(
        self, consumer: str, stream_ids: list[str], event_ids: list[str], lease_ms: int
    ) -> None: ...

    async def hold_owners(self, owners: list[str], consumer: str, lease_ms: int) -> list[bool]:
        """Take, or extend if already ``consumer``'s, each owner's lock (one user's adds run one
        at a time across workers): whether ``consumer`` holds each one now."""
        ...

    async def release_owners(self, owners: list[str], consumer: str) -> None:
        """Let go of the owners' locks ``consumer`` still holds."""
        ...

    async def heartbeat(self, consumer: str, info: dict[str, Any], ttl_ms: int) -> int:
        """Say ``consumer`` is alive for ``ttl_ms``, and claim its name for as long. Returns 0 when
        written; else the name is another live process's, and the answer is how long (ms) that
        one's claim has left: nothing was written. The locks a worker takes (events, owners) carry
        its process's claim besides its name, so two processes given one name never both hold one."""
        ...

    async def worker_info(self, consumer: str | None = None) -> list[dict[str, Any]]:
        """Live workers' last heartbeats (or only ``consumer``'s)."""
        ...

    async def leave(self, consumer: str) -> None:
        """Drop this worker's claim on its name, its heartbeat, and its group membership if it holds
        nothing; none of them when another process holds the name now (they are that one's)."""
        ...

    async def prune_consumers(self, min_idle_ms: int) -> list[str]:
        """Remove the group's dead consumers (a killed worker's): those holding no pending entry
        (what they held is reclaimed first), idle ``min_idle_ms`` or longer, with no live
        heartbeat. Returns their names."""
        ...

    async def outstanding(self) -> int:
        """Entries not yet finished: undelivered, pending, or waiting for a retry."""
        ...


class DeadLetters(Protocol):
    """The dead-letter stream."""

    async def dlq_list(self, count: int, ids: list[str] | None = None) -> list[DeadLetter]: ...

    async def dlq_replay(self, entries: list[DeadLetter], *, dry_run: bool = False) -> Replayed:
        """Put dead letters back on the stream as fresh first attempts (see :class:`Replayed`); an
        entry another replay already moved is skipped. ``dry_run``: say what the replay would do,
        letter by letter, and change nothing."""
        ...

    async def dlq_tail(self) -> tuple[int, str | None]:
        """How many dead letters there are, and the newest one's entry id."""
        ...

    async def dlq_purge(self, *, ids: list[str] | None = None, up_to: str | None = None) -> int:
        """Delete the dead letters of ``ids``, or every one up to entry id ``up_to`` (those that
        arrive later stay), or all; returns how many went."""
        ...


class EventQueue(EventLog, WorkQueue, DeadLetters, Protocol):
    """A backend serving all three roles; ``where`` names its server for messages (no secrets)."""

    where: str
    keys: Keys
