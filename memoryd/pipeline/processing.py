"""One batch of deliveries, from the stream's entries to the outcome of each event: the worker's work.

:class:`BatchProcessor` is the base of :class:`~memoryd.pipeline.worker.Worker`, whose consumer
loop hands it each batch it reads (:meth:`BatchProcessor.process`):

1. read each entry as an event (one unreadable is dead-lettered) and take its lock (``SET NX``
   with a lease, kept alive by the worker's heartbeats); an event already done or dead-lettered
   is a duplicate delivery: acknowledged and counted, nothing else. One whose id names another
   add now (its status record keeps that add's digest: the id was reused after this event's
   status expired) is dead-lettered as a conflict, so it is neither lost nor run as that add. An
   event over ``max_attempts`` deliveries (its workers kept dying) goes to the dead-letter stream.
2. validate each event; with a :class:`~memoryd.pipeline.prefetch.PrefetchEmbedder`,
   embed the messages of the whole batch in one call; then take the lock of each
   user the batch adds for (:meth:`BatchProcessor._hold_owners`: the model's work, most of
   a batch's, does not wait for another worker's adds for those users), group the
   events (:mod:`memoryd.pipeline.batching`) and call :meth:`AsyncMemory.add` once
   per group; groups of different scopes commit in one transaction.
3. hand every outcome (:mod:`.outcomes`) to the worker's ``_record``, which records it and
   acknowledges its entry in one atomic step: done with the results, a retry after exponential
   backoff (transient errors), or a dead letter (permanent errors, or attempts used up) — see
   :mod:`.policy`.

Idempotency in the store, for a worker that dies after its commit but before
step 3, or stalls past its lease while another worker takes the event over, or an
event the producer's synchronous path applied while Redis did not answer: an add (fast
or fine mode) records its event ids in the store with its write (:mod:`memoryd.storage.events`),
and a write naming one recorded already is refused whole, so the event ends done with
nothing stored again (``skipped``); ids already recorded are found before the batch
runs, so a retry after a commit calls no LLM again. Two workers racing on one event (a
stalled lease) may both call the LLM; only one of them stores.

No error of one batch stops the worker: an unexpected exception while processing
it becomes a retry (or dead letter) of each event it held that has no outcome yet.

Attempts count failures of an event's own processing, not outages around it:

- Redis not answering a step of the batch (its events' locks, the users' deletion marks, the
  owners' locks) ends the batch there: what has an outcome already is recorded (the worker keeps
  trying until Redis is back), the rest stays pending, and the worker reads it again once Redis
  answers (that reading is no delivery: see :meth:`~memoryd.pipeline.worker.Worker._loop`).
- The store not answering (its records cannot be read: a tenant's store that does not open, the
  check for events applied already, or the same read right after an add failed with a
  :class:`StorageError`) makes each event wait as a retry of the same attempt
  (:func:`~memoryd.pipeline.outcomes.waits`). So does an add the store refuses for the machine's
  reason although it answers reads (a full disk, a read-only file or mount, an I/O error:
  :func:`.policy.refuses_writes`). Any other add the store refuses is the event's own failure,
  and uses up an attempt. While events wait on the store, the worker's heartbeat says why
  (``store_error``), and ``/health`` shows the pipeline degraded with that reason.

The status record keeps what the add did for ``pipeline.result_ttl_s`` (:func:`kept_result`): not
the text of the event's own messages (an episode's item keeps its id; ``GET /v1/memories/{id}`` has
the text), but that of the memories derived from them, which the caller cannot know.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from memoryd.config import DEFAULT_TENANT, PipelineConfig
from memoryd.errors import (
    BackendUnavailableError,
    EventAppliedError,
    EventErasedError,
    InvalidInputError,
    MemorydError,
    StaleWriteError,
    StorageError,
)
from memoryd.ingest.locks import owner_key
from memoryd.memory import AsyncMemory
from memoryd.models import AddResults, Scope
from memoryd.pipeline.base import Delivery, EventQueue, Outcome
from memoryd.pipeline.batching import AddCall, Job, plan_calls, split_results
from memoryd.pipeline.events import MAX_ENTRY_FIELDS, PipelineEvent, bounded_fields, readable_event_id
from memoryd.pipeline.outcomes import APPLIED, ERASED, conflict, dead, failed, gave_up, skipped, waits
from memoryd.pipeline.policy import is_transient, refuses_writes
from memoryd.pipeline.prefetch import PrefetchEmbedder
from memoryd.storage.events import AppliedEvent, applying_events
from memoryd.tenancy import Tenants
from memoryd.wording import counted

__all__ = ["BatchProcessor", "WorkerReport", "kept_result"]

log = logging.getLogger("memoryd.pipeline")

OWNER_POLL_S = 0.02  # how often a worker asks again for an owner another worker is adding for
# Prefetch embeddings when a batch's calls average fewer messages than this: a local model
# embeds ~10% fewer texts per CPU-second in batches of 8 than of 32, and no better beyond.
PREFETCH_BELOW = 16


class _QueueDown(Exception):  # noqa: N818 - a control-flow signal, carrying the queue's error
    """Redis failed a step inside a batch's run: the batch ends there, its outcomes so far recorded."""

    def __init__(self, error: StorageError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class WorkerReport:
    """What one run of a worker did."""

    processed: int = 0
    duplicates: int = 0
    retried: int = 0
    dead_lettered: int = 0
    batches: int = 0
    reclaimed: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    def said(self) -> str:
        """The report in words, for a log line: "3 processed, 1 duplicate, ..., 2 batches"."""
        return (
            f"{self.processed} processed, {counted(self.duplicates, 'duplicate', 'duplicates')}, "
            f"{self.retried} retried, {self.dead_lettered} dead-lettered, "
            f"{counted(self.batches, 'batch', 'batches')}, {self.reclaimed} reclaimed"
        )


class BatchProcessor:
    """Processes batches of deliveries for one consumer (:meth:`process`); the base of the worker,
    which reads the batches, records their outcomes (:meth:`_record`) and keeps the leases taken
    here alive (``_in_flight``, ``_owners``)."""

    def __init__(self, memory: AsyncMemory, queue: EventQueue, config: PipelineConfig, consumer: str) -> None:
        self.memory = memory
        self.tenants = Tenants(memory.settings, memory)  # events of other tenants go to their stores
        self.queue = queue
        self.config = config
        self.consumer = consumer
        self.report = WorkerReport()
        self._clock_offset_ms = 0  # this host's clock minus the queue's (see _skip_forgotten)
        self._in_flight: dict[str, str] = {}  # stream id -> event id, for the lease keep-alive
        self._owners: set[str] = set()  # the owners' locks held while their adds run (kept alive too)

    async def _record(self, outcomes: list[Outcome]) -> None:
        """Record the outcomes and acknowledge their entries: the worker's (it keeps trying while
        Redis is away, and counts them in its report)."""
        raise NotImplementedError

    async def _hold(self, owners: list[str]) -> list[bool]:
        return await self.queue.hold_owners(owners, self.consumer, self.lease_ms)

    async def _let_go(self, owners: list[str]) -> None:
        await self.queue.release_owners(owners, self.consumer)

    @property
    def lease_ms(self) -> int:
        return self.config.claim_idle_ms

    async def process(self, deliveries: list[Delivery]) -> None:
        """Process one batch of deliveries and record every outcome."""
        self.report.batches += 1
        outcomes: list[Outcome] = []
        candidates: list[Job] = []
        seen: dict[str, str] = {}  # event id -> the digest of its add
        for d in deliveries:
            if len(d.fields) > MAX_ENTRY_FIELDS:  # not memoryd's: bounded before it is carried on
                d = replace(d, fields=bounded_fields(d.fields))
            if not d.fields:  # an entry deleted while pending
                outcomes.append(Outcome("ack", d))
                continue
            try:
                event = PipelineEvent.from_fields(d.fields)
            except InvalidInputError as exc:
                outcomes.append(dead(d, readable_event_id(d.fields), exc, d.deliveries))
                continue
            except Exception as exc:  # noqa: BLE001 - whatever else an entry holds: unreadable too
                why = f"event cannot be read ({type(exc).__name__}: {exc})"
                unreadable = InvalidInputError(why, field="event")
                outcomes.append(dead(d, readable_event_id(d.fields), unreadable, d.deliveries))
                continue
            digest = event.payload.digest()
            if event.event_id in seen:  # the same event twice in one batch, or another add under its id
                same = seen[event.event_id] == digest
                attempts = event.attempt + d.deliveries - 1
                outcomes.append(Outcome("ack", d) if same else conflict(d, event, attempts))
                continue
            seen[event.event_id] = digest
            # One over pipeline.max_attempts goes on to the store's record first (its last worker may
            # have applied it before dying), and is dead-lettered there if it was not applied.
            candidates.append(Job(d, event, event.attempt + d.deliveries - 1, digest))
        jobs = await self._lock(candidates, outcomes)
        jobs = await self._skip_forgotten(self._validate(jobs, outcomes), outcomes)
        for job in jobs:
            self._in_flight[job.delivery.stream_id] = job.event.event_id
        try:
            ran: list[Outcome] = []
            down: StorageError | None = None
            try:
                await self._run_jobs(jobs, ran)
            except _QueueDown as exc:  # what has no outcome stays pending, read again once Redis is back
                down = exc.error
                log.warning(
                    "worker %s: %s; %s of the batch wait for Redis (no attempt used up)",
                    self.consumer, down.message, counted(len(jobs) - len(ran), "event", "events"),
                )  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - a bug must not kill the worker: retry what is left
                log.exception("worker %s: unexpected error processing a batch", self.consumer)
                finished = {o.delivery.stream_id for o in ran}
                left = [job for job in jobs if job.delivery.stream_id not in finished]
                ran.extend(failed(job, exc, self.config) for job in left)
            outcomes.extend(ran)
            await self._record(outcomes)
            if down is not None:
                raise down
        finally:
            for job in jobs:
                self._in_flight.pop(job.delivery.stream_id, None)
            if isinstance(self.memory.loaded_embedder, PrefetchEmbedder):
                self.memory.loaded_embedder.clear()

    async def _run_jobs(self, jobs: list[Job], outcomes: list[Outcome]) -> None:
        """Run the jobs, tenant by tenant, adding each one's outcome to ``outcomes``."""
        default_mode = "fine" if self.memory.router is not None else "fast"
        max_messages = self.memory.settings.limits.max_messages_per_add
        for tenant, group in _by_tenant(jobs).items():
            try:
                memory = await self.tenants.get(tenant)
                # Applied already (a commit racing this check is refused whole by the store, too)?
                group = await self._skip_applied(memory, group, outcomes)
            except StorageError as exc:  # the store does not answer: no failure of these events
                outcomes.extend(waits(job, exc, self.config) for job in group)
                continue
            except Exception as exc:  # noqa: BLE001 - the tenant's store did not open: retry later
                outcomes.extend(failed(job, exc, self.config) for job in group)
                continue
            most = self.config.max_attempts
            outcomes.extend(gave_up(job, most) for job in group if job.attempts > most)
            group = [job for job in group if job.attempts <= most]
            down = await self._embed_ahead(memory, group)  # before the owners' locks: see .prefetch
            if down is not None:  # the embedder is down or overloaded: each add would only fail again
                outcomes.extend(failed(job, down, self.config) for job in group)
                continue
            try:
                held = await self._hold_owners([_owner_of(tenant, job) for job in group])
            except StorageError as exc:  # Redis (the owners' locks): not these events' failure
                raise _QueueDown(exc) from exc
            try:
                # Again, now that no other worker adds for these users: one that held a lock a
                # moment ago may have committed an event of this batch (a stalled lease).
                try:
                    group = await self._skip_applied(memory, group, outcomes)
                except StorageError as exc:
                    outcomes.extend(waits(job, exc, self.config) for job in group)
                    continue
                plans = plan_calls(group, default_mode=default_mode, max_messages=max_messages)
                fast = [call for calls in plans for call in calls if call.mode == "fast"]
                await self._prefetch(memory, fast)
                outcomes.extend(await self._run_plans(memory, plans, group))
            finally:
                self._owners.difference_update(held)
                with contextlib.suppress(StorageError):  # else they expire with their lease
                    await self._let_go(held)

    async def _hold_owners(self, owners: list[str]) -> list[str]:
        """Take the lock of every owner (user) the batch adds for, so that no other worker adds for
        one of them meanwhile: each add reads what the owner's earlier adds stored (duplicates, the
        current home, the hierarchy) before it commits, and two at once would each miss the other's.

        Taken in sorted order, waiting while another worker holds one (so no two workers wait on
        each other); one still held by another after a lease is given up on: its adds run anyway,
        as they would without locks. Returns those taken."""
        wanted = sorted(set(owners))
        got = await self._hold(wanted)
        if all(got):
            self._owners.update(wanted)
            return wanted
        first = got.index(False)
        held, extra = wanted[:first], [o for o, ok in zip(wanted[first:], got[first:], strict=True) if ok]
        # Whatever fails from here (Redis, a cancel), no lock taken may stay behind: the caller gets
        # no list to let go of, and the heartbeat would keep re-taking those in self._owners for good.
        try:
            await self._let_go(extra)  # never hold a later one while waiting
            self._owners.update(held)
            for owner in wanted[first:]:
                deadline = time.monotonic() + self.lease_ms / 1000
                while not (await self._hold([owner]))[0]:
                    if time.monotonic() >= deadline:
                        log.warning(
                            "worker %s: owner %s busy a whole lease; adding anyway", self.consumer, owner
                        )
                        break
                    await asyncio.sleep(OWNER_POLL_S)
                else:
                    held.append(owner)
                    self._owners.add(owner)
        except BaseException:
            self._owners.difference_update(wanted)
            with contextlib.suppress(StorageError):  # else they expire with their lease
                await self._let_go(wanted)
            raise
        return held

    async def _run_plans(
        self, memory: AsyncMemory, plans: list[list[AddCall]], jobs: list[Job]
    ) -> list[Outcome]:
        """Run every scope's calls (scopes concurrently). When each scope has one fast-mode call
        and no two scopes have one owner, nothing of one call can depend on another's writes, so
        all of them commit in one transaction: one commit per batch instead of one per scope.
        Two sessions of one user must not: each add reads what the user's earlier ones wrote
        (duplicate rule memories, the current home), which a shared transaction has not yet."""
        calls = [call for scope in plans for call in scope]
        owners = {owner_key(Scope(**scope[0].jobs[0].event.payload.scope())) for scope in plans if scope}
        shared = len(owners) == len(plans) and all(len(scope) == 1 for scope in plans)
        if len(calls) < 2 or not shared or any(c.mode != "fast" for c in calls):
            each = await asyncio.gather(*(self._run_scope(memory, s) for s in plans))
            return [o for scope in each for o in scope]
        results: list[list[Outcome]] | None = None
        try:
            async with memory.storage.records.transaction():
                results = await asyncio.gather(*(self._run_scope(memory, s) for s in plans))
        except (EventAppliedError, EventErasedError):  # one was applied or erased meanwhile: each alone
            each = await asyncio.gather(*(self._run_scope(memory, s) for s in plans))
            return [o for scope in each for o in scope]
        except Exception as exc:  # noqa: BLE001 - the shared commit failed: none of these was stored
            outage = await self._store_down(memory, jobs, exc)
            if results is None:
                return [outage(job) for job in jobs]
            by_entry = {job.delivery.stream_id: job for job in jobs}
            return [
                outage(by_entry[o.delivery.stream_id]) if o.kind == "done" else o
                for scope in results
                for o in scope
            ]
        return [o for scope in results for o in scope]

    async def _embed_ahead(self, memory: AsyncMemory, jobs: list[Job]) -> Exception | None:
        """Embed the line of every message of ``jobs`` in one batch, cached for their adds (see
        :mod:`.prefetch`). An outage of the model's service (unreachable, 429, 5xx) is returned:
        the jobs are retried later, without one more call per add to a service that is down. Any
        other failure may be one text's (a 400 for an input over the model's limit, a local model
        failing on one text): it is logged, and each add then embeds on its own, so that only the
        event at fault fails."""
        embedder = self.memory.loaded_embedder
        if not isinstance(embedder, PrefetchEmbedder):
            return None
        lines = [memory.represent.message_line(m) for job in jobs for m in job.messages]
        try:
            await embedder.warm(lines)
        except Exception as exc:  # noqa: BLE001
            if _outage(exc):
                return exc
            self._embedding_failed(exc)
        return None

    async def _prefetch(self, memory: AsyncMemory, calls: list[AddCall]) -> None:
        """Embed what many small calls of sessions ask for besides their messages (a session's
        previous turn) in one batch (see :mod:`.prefetch`); for calls that are large, or outside
        sessions, probing would cost more than it saves."""
        embedder = self.memory.loaded_embedder
        if len(calls) < 2 or not isinstance(embedder, PrefetchEmbedder):
            return
        if sum(len(call.messages) for call in calls) >= PREFETCH_BELOW * len(calls):
            return
        sessions = memory.represent.uses_context and any(c.jobs[0].event.payload.run_id for c in calls)
        if not sessions:
            return
        try:
            await embedder.prefetch([functools.partial(self._add, memory, call) for call in calls])
        except Exception as exc:  # noqa: BLE001 - each call then embeds on its own, and records its failure
            self._embedding_failed(exc)

    def _embedding_failed(self, exc: Exception) -> None:
        message = exc.message if isinstance(exc, MemorydError) else f"{type(exc).__name__}: {exc}"
        log.warning("worker %s: batched embedding failed (%s); adds embed alone", self.consumer, message)

    @staticmethod
    async def _add(memory: AsyncMemory, call: AddCall) -> AddResults:
        return await memory.add(call.messages, **call.kwargs())

    async def _lock(self, candidates: list[Job], outcomes: list[Outcome]) -> list[Job]:
        if not candidates:
            return []
        items = [(j.event.event_id, j.attempts, j.delivery.stream_id, j.digest) for j in candidates]
        answers = await self.queue.begin(items, self.consumer, self.lease_ms)
        jobs = []
        for job, answer in zip(candidates, answers):
            if answer.state == "claimed":
                jobs.append(job)
            elif answer.state == "conflict":
                outcomes.append(conflict(job.delivery, job.event, job.attempts))
            elif answer.state == "duplicate":
                log.info("event %s: duplicate delivery (already %s)", job.event.event_id, answer.status)
                outcomes.append(Outcome("ack", job.delivery, event_id=job.event.event_id))
            # busy: another live worker holds it; leave it pending, it will be acknowledged there
        return jobs

    def _validate(self, jobs: list[Job], outcomes: list[Outcome]) -> list[Job]:
        default_mode = "fine" if self.memory.router is not None else "fast"
        valid = []
        for job in jobs:
            p = job.event.payload
            try:
                data = p.read(default_mode=default_mode, limits=self.memory.settings.limits)
            except MemorydError as exc:
                outcomes.append(dead(job.delivery, job.event.event_id, exc, job.attempts))
                continue
            job.messages = data.messages  # what the batch's embedding call reads (_embed_ahead)
            valid.append(job)
        return valid

    async def _skip_forgotten(self, jobs: list[Job], outcomes: list[Outcome]) -> list[Job]:
        """Jobs whose user was deleted, or whose store was reset, after their event was enqueued end
        here, done with nothing stored (so an erasure is not undone by what was still queued). Both
        times are the queue's clock's (:attr:`PipelineEvent.enqueued_at_ms`)."""
        if not jobs:
            return jobs
        # The queue's clock against this host's: the store compares an event's enqueue time with
        # when its user was erased there, on this host's clock (the server's, beside the store).
        self._clock_offset_ms = int(time.time() * 1000) - await self.queue.time_ms()
        users = {(j.event.payload.tenant or DEFAULT_TENANT, j.event.payload.user_id) for j in jobs}
        gone = await self.queue.forgotten(list(users))
        if not gone:
            return jobs
        kept = []
        for job in jobs:
            p = job.event.payload
            at = gone.get((p.tenant or DEFAULT_TENANT, p.user_id))
            if at is None or job.event.enqueued_at_ms > at:
                kept.append(job)
                continue
            outcomes.append(skipped(job, ERASED))
        return kept

    def _enqueued_here(self, event: PipelineEvent) -> float:
        """When ``event`` was enqueued (s), on this host's clock, for the store's erasure check of a
        deletion the queue did not mark (one made without the pipeline; see ``_erased`` in
        :mod:`memoryd.storage.sqlite.records`)."""
        if event.enqueued_ms is None:  # a producer's clock's (an older or external producer)
            return event.created_at.timestamp()
        return (event.enqueued_ms + self._clock_offset_ms) / 1000

    async def _run_scope(self, memory: AsyncMemory, calls: list[AddCall]) -> list[Outcome]:
        out: list[Outcome] = []
        for call in calls:
            out.extend(await self._run_call(memory, call))
        return out

    async def _run_call(self, memory: AsyncMemory, call: AddCall) -> list[Outcome]:
        events = [
            AppliedEvent(
                j.event.event_id,
                j.digest,
                user_id=j.event.payload.user_id,
                agent_id=j.event.payload.agent_id,
                run_id=j.event.payload.run_id,
                created_at=self._enqueued_here(j.event),
                enqueued_ms=j.event.enqueued_at_ms,  # a deletion the queue marked: as _skip_forgotten
            )
            for j in call.jobs
        ]
        try:
            with applying_events(events):
                results = await self._add(memory, call)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an outcome: retry or dead letter
            if isinstance(exc, EventAppliedError) and len(call.jobs) == 1:
                return [skipped(call.jobs[0], APPLIED)]  # another delivery of it, or the sync path
            if isinstance(exc, EventErasedError) and len(call.jobs) == 1:
                return [skipped(call.jobs[0], ERASED)]  # its user was erased while it ran
            if len(call.jobs) > 1 and (not is_transient(exc) or _refused(exc)):
                out: list[Outcome] = []  # find the culprit: each event on its own
                for job, start, count in zip(call.jobs, call.offsets, call.counts):
                    solo = AddCall([job], call.mode, call.messages[start : start + count], [0], [count])
                    out.extend(await self._run_call(memory, solo))
                return out
            if is_transient(exc) and not isinstance(exc, MemorydError):
                log.exception("events %s: unexpected error", [j.event.event_id for j in call.jobs])
            outcome = await self._store_down(memory, call.jobs, exc)
            return [outcome(job) for job in call.jobs]
        return [
            Outcome("done", job.delivery, event_id=job.event.event_id, result=kept, attempts=job.attempts)
            for job, kept in zip(call.jobs, map(kept_result, split_results(call, results)))
        ]

    async def _store_down(
        self, memory: AsyncMemory, jobs: list[Job], exc: Exception
    ) -> Callable[[Job], Outcome]:
        """The outcome of each of ``jobs`` after their add failed with ``exc``: :func:`waits` when the
        store refuses writes for the machine's reason (a full disk, a read-only file, an I/O error:
        :func:`.policy.refuses_writes`) or does not answer (a :class:`StorageError` and, right after
        it, the store fails to read whether these events were applied): an outage, no failure of
        theirs. Else :func:`failed`."""
        if refuses_writes(exc):
            return lambda job: waits(job, exc, self.config)
        if isinstance(exc, StorageError) and not isinstance(exc, StaleWriteError):
            try:
                await memory.storage.records.applied([job.event.event_id for job in jobs])
            except StorageError:
                return lambda job: waits(job, exc, self.config)
        return lambda job: failed(job, exc, self.config)

    async def _skip_applied(self, memory: AsyncMemory, jobs: list[Job], outcomes: list[Outcome]) -> list[Job]:
        """Jobs whose event the store recorded as applied end here, done with nothing stored again
        (another add recorded under the id, one whose status expired, is not this event: it runs)."""
        applied = await memory.storage.records.applied([job.event.event_id for job in jobs])

        def done(job: Job) -> bool:
            return applied.get(job.event.event_id) == job.digest

        outcomes.extend(skipped(job, APPLIED) for job in jobs if done(job))
        return [job for job in jobs if not done(job)]


def kept_result(result: dict[str, Any]) -> dict[str, Any]:
    """What an event's status record keeps of its add's result (``AddResults.to_dict``) for
    ``pipeline.result_ttl_s``: all of it but the text of the event's own messages (an episode's
    ``memory`` is null and its ``record`` left out: its ``id`` finds it, ``GET /v1/memories/{id}``),
    which the caller sent and which would make Redis hold every add's text that long. Derived
    memories keep their text and record."""
    items = result.get("results")
    if not isinstance(items, list):
        return result
    kept = [
        {**{k: v for k, v in item.items() if k != "record"}, "memory": None}
        if isinstance(item, dict) and item.get("kind") == "episode"
        else item
        for item in items
    ]
    return {**result, "results": kept}


def _outage(exc: Exception) -> bool:
    """Whether an embedding failure says the model's service is down or overloaded (unreachable,
    429, 5xx), not that it refused a text."""
    if not isinstance(exc, BackendUnavailableError):
        return False
    status = exc.details.get("status")
    return status is None or status == 429 or status >= 500


def _refused(exc: Exception) -> bool:
    """Whether a service answered refusing the request (a 4xx other than 429: an input over the
    model's limit, say), which may be one event's doing, rather than being down or overloaded."""
    return isinstance(exc, BackendUnavailableError) and not _outage(exc)


def _owner_of(tenant: str, job: Job) -> str:
    """Whose adds a job's are, across tenants: its tenant and owner (user, else agent, else session)."""
    kind, name = owner_key(Scope(**job.event.payload.scope()))
    return f"{tenant}:{kind}:{name}"


def _by_tenant(jobs: list[Job]) -> dict[str, list[Job]]:
    """Jobs grouped by the tenant whose store they write to, in stream order within each."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.event.payload.tenant or DEFAULT_TENANT, []).append(job)
    return groups
