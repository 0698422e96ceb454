"""The producer side: what the REST server (and the chat gateway's write-backs) call.

:meth:`Pipeline.submit_add` validates an ``add`` call exactly as
:meth:`AsyncMemory.add` would (so bad input is a 422 now, not a dead letter
later), then enqueues it as an event, idempotently on its ``event_id``: a
second submission of a known id enqueues nothing and reports the existing
event's status as a duplicate (a NOOP). The same id with another body, or for
another user, is no retry: a :class:`ConflictError` (409) that shows nothing of
the event the id names. The add is queued as it reads (:meth:`AddPayload.parsed`),
so that a retry writing the same add otherwise is the same add. An id the client
gives is looked up in the store first: one the synchronous path applied while
Redis was down is known there only. Its add again is a NOOP; another add under it
is a 409 for as long as Redis keeps an ended event's status (``result_ttl_s``),
after which the id may name a new add, as one Redis forgot may.

When Redis cannot be reached the add is never accepted and dropped: with
``pipeline.on_unavailable = "sync"`` (the default) it is processed right away on
the synchronous path and the answer says ``"pipeline": "bypassed"``; with
``"reject"`` it is refused with 503. After a failure the queue is skipped for
:data:`RETRY_AFTER_S` so that an outage does not slow every request down. A Redis that refuses
``pipeline.redis_url``'s password (wrong, or none given) or its database (one Redis does not have)
is no outage but a configuration error: ``on_unavailable`` does not apply, and the add is refused
with 503 naming it (its queue asked again after the same wait: the password or the database may
be set right meanwhile).

With the pipeline off, the server adds under a client's ``event_id`` with :func:`add_now`: on the
synchronous path's terms (the id recorded in the store with the add's write), so that an add sent
again after a lost answer is applied once there too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from memoryd.config import DEFAULT_TENANT, LimitsConfig, PipelineConfig
from memoryd.errors import (
    ConflictError,
    EventAppliedError,
    MemorydError,
    NotFoundError,
    QueueUnavailableError,
    StorageError,
)
from memoryd.ingest.erase import on_erasure_begun
from memoryd.memory import AsyncMemory
from memoryd.models import AddResults
from memoryd.pipeline.base import Between, EventQueue, EventRecord, QueueStats
from memoryd.pipeline.events import (
    AddPayload,
    EventStatus,
    PipelineEvent,
    check_event_id,
    new_event_id,
    stored_event_id,
)
from memoryd.pipeline.metrics import MetricsText, pipeline_metrics
from memoryd.pipeline.redis_consumers import worker_problems
from memoryd.pipeline.redis_health import (
    Findings,
    RedisWatch,
    check_at_start,
    inspect,
    is_full,
    misconfigured,
    recorded_loss,
    refusal,
)
from memoryd.registry import resolve
from memoryd.storage.events import AppliedEvent, applying_events

__all__ = ["RETRY_AFTER_S", "Pipeline", "Submission", "add_now", "apply_add", "build_queue"]

log = logging.getLogger("memoryd.pipeline")

RETRY_AFTER_S = 1.0
# How many ids of adds it applied on the synchronous path a server remembers (for their label).
_BYPASSED_KEPT = 100_000
HEALTH_TIMEOUT_S = 2.0
# What a deletion whose store's erasure failed after the store's mark says (see Pipeline.forget_user).
_BEGUN = (
    "the erasure has begun but did not finish: its user's events queued before it (every user's, for "
    "a reset) are dropped, never stored, while some of their memories may remain: send it again to finish it"
)


def build_queue(config: PipelineConfig, *, blocking: bool = False) -> EventQueue:
    """The configured queue backend (``pipeline.backend``), from the registry.

    A backend whose extra is missing fails here with :class:`MissingExtraError` naming it."""
    cls = resolve("queue", config.backend)
    queue: EventQueue = cls(config, blocking=blocking)
    return queue


@dataclass
class _StoreErasure:
    """How the store's part of a deletion went (see :meth:`Pipeline.forget_user`)."""

    ran: bool = False  # the queue called it: its mark is read
    begun: bool = False  # the store's own mark is committed: the deletion has begun
    failed: BaseException | None = None  # what it raised


@dataclass(frozen=True)
class Submission:
    """What became of one submitted ``add``."""

    event_id: str
    status: EventStatus
    pipeline: str  # "queued" (on the stream) or "bypassed" (processed synchronously)
    duplicate: bool = False
    record: EventRecord | None = None
    results: AddResults | None = None
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        """A new event on the stream (HTTP 202)."""
        return self.pipeline == "queued" and not self.duplicate

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "event_id": self.event_id,
            "status": self.status.value,
            "pipeline": self.pipeline,
        }
        if self.duplicate:
            body["event"] = "NOOP"
            body["reason"] = "duplicate event"
            if self.record is not None:
                body["record"] = self.record.to_dict()
        if self.results is not None:
            body.update(self.results.to_dict())
        if self.reason is not None and not self.duplicate:
            body["reason"] = self.reason
        return body


class Pipeline:
    """The server's handle on the event queue: submit, look up, report."""

    def __init__(
        self, config: PipelineConfig, limits: LimitsConfig, *, queue: EventQueue | None = None
    ) -> None:
        self.config = config
        self.limits = limits
        self.queue = queue if queue is not None else build_queue(config)
        self.submissions = {"queued": 0, "duplicate": 0, "bypassed": 0, "rejected": 0}
        self.redis_up: bool | None = None  # whether Redis answers
        self.last_error: str | None = None  # why adds are not queued now (None: they are)
        self.refused: str | None = None  # Redis answers, and refuses writes: why (full, read-only)
        # Redis refuses pipeline.redis_url's password or database: adds are refused (503)
        self.locked_out = False
        self._skip_until = 0.0
        # Stored ids of the adds this server applied on the synchronous path, with when (time.time()):
        # the store records that an event was applied, not by which path (see _applied_record).
        self._bypassed: OrderedDict[str, float] = OrderedDict()
        who = f"the server on {socket.gethostname()} (pid {os.getpid()})"
        self.watch = RedisWatch(who, then="; adds are queued")

    async def start(self) -> None:
        """Create the consumer group (so lag counts from the first event); Redis may be down.

        A Redis that evicts keys when full is refused (:class:`ConfigError`, see
        :mod:`.redis_health`); one that persists nothing is logged as a warning."""
        try:
            await self.queue.ensure_group()
            self._up()
            self._apply(await check_at_start(self.queue, self.config, self.watch))
        except StorageError as exc:
            self.redis_up = False  # said once, below, with what adds will do (_down would say it too)
            self._down(exc)
            until = "Redis accepts pipeline.redis_url" if self.locked_out else "it answers"
            what = self._fallback_word()
            log.warning("async pipeline: %s; adds will %s until %s", exc.message, what, until)

    async def close(self) -> None:
        await self.queue.close()

    def _up(self) -> None:
        """Redis took a write (an add, or a look's progress sample): adds are queued. Only a write
        says so: a Redis that is full (OOM) or read-only still answers every read."""
        if self.last_error is not None and self.refused is None:
            log.info("async pipeline: Redis at %s answers again; adds are queued", self.queue.where)
        self.watch.took_writes(self.queue.where)
        self.redis_up, self.last_error, self.refused, self._skip_until = True, None, None, 0.0
        self.locked_out = False

    def _down(self, exc: StorageError) -> None:
        """A call failed: Redis did not answer, or it answered refusing writes (full, read-only:
        :func:`.redis_health.refusal`). Adds take ``on_unavailable``'s path until a write is taken."""
        refused = refusal(exc, self.queue.where, self.config)
        if refused is not None:
            self._refuse(refused, exc.message)
        else:
            if self.redis_up is not False:
                log.warning("async pipeline: %s", exc.message)
            self.redis_up, self.last_error, self.refused = False, exc.message, None
        self.locked_out = refused is None and misconfigured(exc)
        self._skip_until = time.monotonic() + RETRY_AFTER_S

    def _refuse(self, why: str, error: str | None = None) -> None:
        self.watch.refused_writes(why)  # an ERROR, once until Redis takes a write again
        self.redis_up, self.refused, self.last_error = True, why, error or why

    def _apply(self, found: Findings) -> None:
        """What a look's write said: refused (full, read-only), or taken."""
        refused = found.full or found.refused
        if refused is not None:
            self._refuse(refused)
        elif found.wrote:
            self._up()

    def _writes(self) -> str:
        """What becomes of an add now: queued, or (Redis down or refusing writes) ``on_unavailable``'s."""
        if self.last_error is None:
            return "queued"
        return "synchronous" if self.config.on_unavailable == "sync" and not self.locked_out else "rejected"

    def _fallback_word(self) -> str:
        return "be processed synchronously" if self._writes() == "synchronous" else "be refused (503)"

    async def submit_add(
        self,
        memory: AsyncMemory,
        payload: AddPayload,
        *,
        event_id: str | None = None,
        source: str = "api",
        tenant: str = DEFAULT_TENANT,
        owner: str | None = None,
    ) -> Submission:
        """Validate, then enqueue (or, with Redis down, process now or refuse; see the module doc).

        ``memory`` is ``tenant``'s store (used when Redis is down); a tenant's event ids
        are its own: the same id in two tenants names two events, and so are the ids of a
        user-bound key's user (``owner``)."""
        given = event_id is not None  # by the client: it may name an add the store holds already
        event_id = check_event_id(event_id) if event_id is not None else new_event_id()
        if tenant != DEFAULT_TENANT:
            payload = replace(payload, tenant=tenant)
        # Queued (and fingerprinted) as it reads: a retry that writes the same add otherwise ({} for
        # no metadata, a string for a list of it) is the same add (see _digests).
        sent, payload = payload, _as_read(memory, payload, self.limits)
        event = PipelineEvent(stored_event_id(event_id, tenant, owner), payload, source=source)
        reuse = False
        if given:
            # One the synchronous path applied while Redis was down is in the store only: that
            # add is known there for as long as Redis keeps an ended event's status.
            try:
                applied = await memory.applied_event(event.event_id)
            except StorageError as exc:  # the queue still knows its own ids: enqueue as before
                log.warning("could not look up event %s in the store (%s); queued as Redis knows it",
                            event.event_id, exc.message)
                applied = None
            if applied is not None and applied.digest in _digests(payload, sent):
                if not await self._queued(event.event_id):  # else Redis answers it below, as a duplicate
                    return self._applied_already(event_id)
            elif applied is not None and applied.applied_at >= time.time() - self.config.result_ttl_s:
                raise _conflict(event_id)
            else:
                reuse = applied is not None  # applied longer ago than that: the id may name a new add
        if time.monotonic() >= self._skip_until:
            try:
                enqueued = await self.queue.enqueue(event, also=_digests(payload, sent)[1:])
            except StorageError as exc:
                self._down(exc)
            else:
                self._up()
                if enqueued.created:
                    self.submissions["queued"] += 1
                    return Submission(event_id, EventStatus.QUEUED, "queued")
                record = enqueued.existing
                if record is not None and not _same_add(record, _digests(payload, sent), payload.user_id):
                    # Not a retry: never the other add's status or results (it may be another
                    # user's), and never a NOOP that would let this add be dropped unnoticed.
                    raise _conflict(event_id)
                self.submissions["duplicate"] += 1
                if record is not None:
                    record = replace(record, event_id=event_id)
                return Submission(
                    event_id, record.status if record else EventStatus.QUEUED, "queued", True, record
                )
        return await self._fallback(memory, payload, event_id, event.event_id, reuse)

    async def _queued(self, stored_id: str) -> bool:
        """Whether Redis keeps the status of event ``stored_id`` (False when it does not answer)."""
        if time.monotonic() < self._skip_until:
            return False
        try:
            return await self.queue.status(stored_id) is not None
        except StorageError as exc:
            self._down(exc)
            return False

    def _applied_already(self, event_id: str) -> Submission:
        """The answer to an add the store holds under its id, one Redis does not know: a NOOP, nothing
        queued or stored again (as on the synchronous path)."""
        self.submissions["duplicate"] += 1
        return _applied_noop(event_id)

    async def _fallback(
        self, memory: AsyncMemory, payload: AddPayload, event_id: str, stored_id: str, reuse: bool = False
    ) -> Submission:
        trouble = self.last_error or "Redis is down"
        if self.locked_out:  # a configuration error, not an outage: on_unavailable does not apply
            self.submissions["rejected"] += 1
            raise QueueUnavailableError(
                f"{trouble}; the add was neither queued nor processed here (pipeline.on_unavailable is "
                "for a Redis that does not answer): retry with the same event_id once pipeline.redis_url "
                "is set right",
                reason=trouble,
                event_id=event_id,
            )
        reason = f"the event queue is unreachable ({trouble})"
        if self.config.on_unavailable == "reject":
            self.submissions["rejected"] += 1
            raise QueueUnavailableError(
                f"{reason}; pipeline.on_unavailable is 'reject', so it was not processed here (if Redis "
                "took the event before it failed to answer, a worker stores it): retry later with the same "
                "event_id, which is never applied twice",
                reason=trouble,
                event_id=event_id,
            )
        # Redis may have queued the event all the same (it answered too late): recorded in the
        # store with this write, so a worker that gets it later stores nothing again. Another add
        # recorded under the id is refused, unless ``reuse``: it was applied longer ago than an
        # ended event's status is kept (as a queued add then replaces it).
        results = await apply_add(memory, payload, stored_id, replaces=reuse)
        if results is None:  # the client's retry of an add this path applied a moment ago
            self.submissions["duplicate"] += 1
            return _applied_noop(event_id, f"{reason}; {_APPLIED}")
        self.submissions["bypassed"] += 1
        self._applied_here(stored_id)
        reason += "; processed synchronously"
        return Submission(event_id, EventStatus.DONE, "bypassed", results=results, reason=reason)

    async def event(
        self,
        event_id: str,
        *,
        tenant: str = DEFAULT_TENANT,
        user_id: str | None = None,
        memory: Callable[[], Awaitable[AsyncMemory]] | None = None,
    ) -> EventRecord:
        """An event's status and result; :class:`NotFoundError` if unknown or expired, or (with
        ``user_id``) if it is another user's: existence is never confirmed to someone else.

        While Redis cannot be asked, one that the store ``memory()`` gives (``tenant``'s, as the
        caller sees it; called only then, so a lookup Redis answers opens no store) recorded applied
        within ``result_ttl_s`` is done: the synchronous path applied it while Redis was
        unreachable, or a worker before Redis went down (:meth:`_applied_record`). Once Redis
        answers, it alone answers: a store record it lacks may be of an erased user's event, whose
        status is gone with the user."""
        check_event_id(event_id)
        try:
            record = None
            if user_id is not None:  # a user-bound key's own ids first, then one given on its behalf
                record = await self.queue.status(stored_event_id(event_id, tenant, user_id))
            record = record or await self.queue.status(stored_event_id(event_id, tenant))
        except StorageError as exc:
            self._down(exc)
            store = None if memory is None else await memory()
            applied = await self._applied_record(store, event_id, tenant, user_id)
            if applied is None:  # Redis may hold it: unknown until it answers (503, with the
                # Retry-After of an add refused while Redis is down)
                exc.details.setdefault("retry_after", QueueUnavailableError.retry_after_s)
                raise
            return applied
        if record is None or (user_id is not None and record.owner != user_id):
            msg = f"no event with id {event_id!r} (unknown, or ended longer ago than pipeline.result_ttl_s)"
            loss = await recorded_loss(self.queue)
            if loss is not None:  # its status may have gone with Redis's data
                msg = loss.not_found(event_id)
            raise NotFoundError(msg, field="event_id")
        return replace(record, event_id=event_id)

    async def _applied_record(
        self, memory: AsyncMemory | None, event_id: str, tenant: str, user_id: str | None
    ) -> EventRecord | None:
        """The status of event ``event_id`` as the store knows it: done (the store keeps when, not
        the results, which that add's answer gave, nor by which path: ``pipeline`` is bypassed
        only for an add this server applied on the synchronous path, else unsaid, as a worker may
        have stored it before Redis went down), when ``memory`` recorded it applied within
        ``result_ttl_s`` (as long as Redis keeps an ended event's; after that the id may name a new
        add). With ``user_id`` only that user's own ids are looked up: the store does not record
        whose add an id given on a user's behalf was. ``None`` when the store does not know it, or
        cannot be read (logged)."""
        if memory is None:
            return None
        stored_id = stored_event_id(event_id, tenant, user_id)
        try:
            applied = await memory.applied_event(stored_id)
        except StorageError as exc:
            log.warning("could not look up event %s in the store (%s)", stored_id, exc.message)
            return None
        if applied is None or applied.applied_at < time.time() - self.config.result_ttl_s:
            return None
        at = datetime.fromtimestamp(applied.applied_at, UTC).isoformat(timespec="milliseconds")
        here = self._bypassed.get(stored_id)
        path = "bypassed" if here is not None and here >= time.time() - self.config.result_ttl_s else None
        return EventRecord(
            event_id, EventStatus.DONE, attempts=1, updated_at=at, finished_at=at, pipeline=path
        )

    def _applied_here(self, stored_id: str) -> None:
        """Remember that this server applied event ``stored_id`` on the synchronous path, for
        ``result_ttl_s`` (the newest :data:`_BYPASSED_KEPT` at most)."""
        now = time.time()
        self._bypassed[stored_id] = now
        self._bypassed.move_to_end(stored_id)
        while self._bypassed:
            oldest, at = next(iter(self._bypassed.items()))
            if len(self._bypassed) <= _BYPASSED_KEPT and at >= now - self.config.result_ttl_s:
                break
            del self._bypassed[oldest]

    async def forget_user(self, tenant: str, user_id: str | None, between: Between | None = None) -> int:
        """``user_id`` of ``tenant`` (``None``: the tenant's store is reset) is deleted: the
        deletion's time is read on Redis's clock (the mark, returned, ms) and ``between`` (the
        store's erasure, given the mark: :meth:`AsyncMemory.delete_user`'s ``queue_mark_ms``;
        events enqueued after it are new ones, to be stored) runs. The deletion begins with the
        store's own mark, its first write: from then on the store refuses the user's events
        enqueued up to the mark, and at once the mark is placed in Redis (:func:`on_erasure_begun`;
        workers skip those events, recording nothing of one a worker holds already, and send
        nothing of them to the LLM while the store is erased). Once the store's erasure ran the
        user's events are erased from Redis (queued, waiting for a retry, dead-lettered, and the
        status and result of those that ended): an add queued after the mark that a worker stores
        while a long sweep runs is not erased with the user's.

        When the store's erasure fails before its mark (the disk full already, say), its error is
        raised and nothing is marked or swept: what was queued stays queued. When it fails after it,
        the deletion has begun: Redis is marked and swept all the same (the store refuses those
        events) and the store's error is raised, saying to send the deletion again, which finishes
        it. With Redis down this fails (503) before anything is deleted, as queued events could
        bring it back."""
        step = _StoreErasure()

        async def store(mark: int, begin: Callable[[], Awaitable[None]]) -> None:
            async def marked() -> None:
                step.begun = True
                await begin()

            step.ran = True
            try:
                if between is not None:
                    with on_erasure_begun(marked):
                        await between(mark)
            except BaseException as exc:
                step.failed = exc
                raise

        try:
            # On the queue's clock, rounded up: events enqueued up to then are skipped (one of the
            # same millisecond too), compared with when the queue took them, not a host's clock.
            return await self.queue.forget_user(tenant, user_id, store)
        except MemorydError as exc:
            if step.failed is not None:  # the store's own failure, not Redis's
                if step.begun and exc is step.failed:
                    exc.add_to_message(_BEGUN)
                raise
            if not isinstance(exc, StorageError):
                raise
            self._down(exc)
            if step.ran:
                raise StorageError(
                    f"{exc.message}; the store's memories are deleted, but their queued events may "
                    "still be in Redis: send the deletion again once Redis answers"
                ) from exc
            raise StorageError(
                f"{exc.message}; nothing is deleted, as queued events could bring it back: "
                "try again once Redis answers"
            ) from exc

    async def _stats(self) -> QueueStats | None:
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S):
                stats = await self.queue.stats()
        except (StorageError, TimeoutError) as exc:
            self._down(exc if isinstance(exc, StorageError) else StorageError("Redis did not answer in time"))
            return None
        self.redis_up = True  # it answers reads; whether it takes writes, only a write tells (_up)
        return stats

    async def health(self) -> dict[str, Any]:
        """The pipeline's part of ``/health``: ``ok``, or ``degraded`` with why."""
        stats = await self._stats()
        report: dict[str, Any] = {
            "redis": self.queue.where,
            "stream": self.queue.keys.stream,
            "group": self.config.group,
            "on_unavailable": self.config.on_unavailable,
        }
        if stats is None:
            return {"status": "degraded", "writes": self._writes(), **report, "error": self.last_error}
        report.update(stats.to_dict())
        report["workers"] = stats.workers
        problems = await self._redis_problems(stats, report)  # its write says whether Redis takes them
        if self.last_error is not None and self.refused not in problems:  # an add's, not re-tried yet
            problems.insert(0, self.refused or f"adds are not queued: {self.last_error}")
        if not stats.workers:
            problems.append(
                "no live worker: events are queued but nobody processes them (start `memoryd worker`)"
            )
        problems.extend(worker_problems(stats.workers))
        if problems:
            return {"status": "degraded", "writes": self._writes(), **report, "error": "; ".join(problems)}
        return {"status": "ok", "writes": self._writes(), **report}

    async def _inspect(self, counters: dict[str, int]) -> Findings:
        """:func:`.redis_health.inspect` with this server's watch, and what its write said applied."""
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            found = await inspect(self.queue, self.config, self.watch, counters=counters)
        self._apply(found)
        return found

    async def _redis_problems(self, stats: QueueStats, report: dict[str, Any]) -> list[str]:
        """What :func:`.redis_health.inspect` finds wrong (an evicting or full Redis, lost data,
        events failing with none processed); its warnings (no persistence) go to ``report``."""
        try:
            found = await self._inspect(stats.counters)
        except (StorageError, TimeoutError) as exc:
            why = exc.message if isinstance(exc, StorageError) else "no answer in time"
            report["warnings"] = [f"Redis's settings and the pipeline's progress could not be read: {why}"]
            return []
        if found.warnings:
            report["warnings"] = found.warnings
        if found.data_lost is not None:
            report["data_lost"] = found.data_lost.to_dict()
        return list(found.problems)

    async def metrics(self, out: MetricsText) -> None:
        stats = await self._stats()
        found: Findings | None = None
        if stats is not None:
            try:
                found = await self._inspect(stats.counters)  # its write: whether Redis takes writes
            except (StorageError, TimeoutError):
                found = None
        pipeline_metrics(
            out, enabled=True, redis_up=stats is not None, stats=stats, submissions=self.submissions,
            writes_queued=self.last_error is None, redis_full=is_full(self.refused),
            data_lost=None if found is None else found.data_lost is not None,
        )  # fmt: skip


async def add_now(
    memory: AsyncMemory,
    payload: AddPayload,
    event_id: str,
    *,
    limits: LimitsConfig,
    tenant: str = DEFAULT_TENANT,
    owner: str | None = None,
) -> Submission:
    """Without the async pipeline: ``payload`` added to ``memory`` (``tenant``'s store) now, on the
    client's ``event_id`` as the pipeline's synchronous path adds it (:func:`apply_add`), so that an
    add sent again under its id is applied once: the same add again is a NOOP (``duplicate``,
    nothing stored again), another add under the id a :class:`ConflictError` (409) for as long as
    the store keeps the id. The ids of a user-bound key's user (``owner``) are its own."""
    event_id = check_event_id(event_id)
    if tenant != DEFAULT_TENANT:
        payload = replace(payload, tenant=tenant)
    payload = _as_read(memory, payload, limits)
    results = await apply_add(memory, payload, stored_event_id(event_id, tenant, owner))
    if results is None:
        return _applied_noop(event_id)
    return Submission(event_id, EventStatus.DONE, "bypassed", results=results)


async def apply_add(
    memory: AsyncMemory, payload: AddPayload, stored_id: str, *, replaces: bool = False
) -> AddResults | None:
    """``payload`` (as :func:`_as_read` writes it) added to ``memory`` now, with event ``stored_id``
    recorded in the store by its write (:func:`applying_events`); ``None`` when the store holds
    that event applied already (nothing stored again). Another add recorded under the id is
    refused (:class:`ConflictError`, 409) unless ``replaces``."""
    event = AppliedEvent(stored_id, payload.digest(), replaces=replaces)
    try:
        with applying_events([event]):
            return await memory.add(
                payload.messages, **payload.scope(), metadata=payload.metadata,
                timestamp=payload.timestamp, mode=payload.mode,
            )  # fmt: skip
    except EventAppliedError:
        return None


def _as_read(memory: AsyncMemory, payload: AddPayload, limits: LimitsConfig) -> AddPayload:
    """``payload`` checked as :meth:`AsyncMemory.add` checks it (a bad add is refused now), and
    written as it reads (:meth:`AddPayload.parsed`): adds that read alike have one digest."""
    data = payload.read(default_mode="fine" if memory.router is not None else "fast", limits=limits)
    return payload.parsed(data)


def _same_add(record: EventRecord, digests: tuple[str, ...], user_id: str | None) -> bool:
    """Whether an add of ``user_id`` with these ``digests`` is the one the known event ``record``
    was enqueued with: the same user (an event of no user has no owner), and the same body when
    the record keeps its digest."""
    if record.owner != user_id:
        return False
    return record.digest is None or record.digest in digests


def _digests(payload: AddPayload, sent: AddPayload) -> tuple[str, str]:
    """The digests a known add of this body may have: of the add as queued now (:meth:`AddPayload.parsed`),
    and of the body as sent (what a memoryd before that recorded: a rolling upgrade)."""
    return payload.digest(), sent.digest()


_APPLIED = "this event was applied to the store already: nothing stored again"


def _applied_noop(event_id: str, reason: str = _APPLIED) -> Submission:
    """The answer to an add the store holds applied under its id already: a NOOP (a duplicate),
    nothing queued or stored again, as the synchronous path answers it."""
    return Submission(event_id, EventStatus.DONE, "bypassed", True, reason=reason)


def _conflict(event_id: str) -> ConflictError:
    return ConflictError(
        f"event_id {event_id!r} already names another add (its body or user differs): nothing was "
        "queued or stored; give this add an id of its own",
        field="event_id",
    )
