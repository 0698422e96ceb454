"""The worker: reads events from the stream in a consumer group and stores them with ``add``.

One loop, one batch at a time:

1. put due retries back on the stream; reclaim entries a dead worker left pending
   longer than ``claim_idle_ms`` (``XAUTOCLAIM``); else read new ones
   (``XREADGROUP``, up to ``batch_size``). After a (re)start it first re-reads its
   own pending entries.
2. take each event's lock (``SET NX`` with a lease, refreshed while it works);
   an event already done or dead-lettered is a duplicate delivery: acknowledged
   and counted, nothing else. One whose id names another add now (its status record
   keeps that add's digest: the id was reused after this event's status expired) is
   dead-lettered as a conflict, so it is neither lost nor run as that add. An event
   over ``max_attempts`` deliveries (its workers kept dying) goes to the dead-letter stream.
3. validate each event; with a :class:`~memoryd.pipeline.prefetch.PrefetchEmbedder`,
   embed the messages of the whole batch in one call; then take the lock of each
   user the batch adds for (:meth:`Worker._hold_owners`: the model's work, most of
   a batch's, does not wait for another worker's adds for those users), group the
   events (:mod:`memoryd.pipeline.batching`) and call :meth:`AsyncMemory.add` once
   per group; groups of different scopes commit in one transaction.
4. record every outcome and acknowledge its entry in one atomic step: done with
   the results, a retry after exponential backoff (transient errors), or a dead
   letter (permanent errors, or attempts used up) — see :mod:`.policy`.

Idempotency in the store, for a worker that dies after its commit but before
step 4, or stalls past its lease while another worker takes the event over, or an
event the producer's synchronous path applied while Redis did not answer: an add (fast
or fine mode) records its event ids in the store with its write (:mod:`memoryd.storage.events`),
and a write naming one recorded already is refused whole, so the event ends done with
nothing stored again (``skipped``); ids already recorded are found before the batch
runs, so a retry after a commit calls no LLM again. Two workers racing on one event (a
stalled lease) may both call the LLM; only one of them stores.

SIGTERM (or SIGINT) drains: the batch in hand is finished and recorded, then the
worker leaves; its leases are kept alive until then, so no other worker takes
that batch over meanwhile. A second signal stops at once (what it held is
redelivered).

No error of one batch stops the worker: an unexpected exception while processing
it becomes a retry (or dead letter) of each event it held that has no outcome yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import time
from collections import deque
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from memoryd.config import DEFAULT_TENANT, PipelineConfig
from memoryd.errors import (
    BackendUnavailableError,
    ConfigError,
    ConflictError,
    EventAppliedError,
    EventErasedError,
    InvalidInputError,
    MemorydError,
    StorageError,
)
from memoryd.ingest.inputs import normalise_add
from memoryd.ingest.locks import owner_key
from memoryd.memory import AsyncMemory
from memoryd.models import AddResults, Scope
from memoryd.pipeline.base import Delivery, EventQueue, Outcome
from memoryd.pipeline.batching import AddCall, Job, plan_calls, split_results
from memoryd.pipeline.events import PipelineEvent, readable_event_id
from memoryd.pipeline.policy import backoff_ms, error_info, is_transient
from memoryd.pipeline.prefetch import PrefetchEmbedder
from memoryd.storage.events import AppliedEvent, applying_events
from memoryd.tenancy import Tenants

__all__ = ["Worker", "WorkerReport", "default_consumer"]

log = logging.getLogger("memoryd.pipeline")

RATE_WINDOW_S = 60.0
RECONNECT_MAX_S = 2.0  # longest wait between attempts to reach Redis again
BURST_CONNECT_S = 30.0  # how long a --burst worker tries to reach Redis before it gives up (exit 1)
OWNER_POLL_S = 0.02  # how often a worker asks again for an owner another worker is adding for
# Prefetch embeddings when a batch's calls average fewer messages than this: a local model
# embeds ~10% fewer texts per CPU-second in batches of 8 than of 32, and no better beyond.
PREFETCH_BELOW = 16


def default_consumer() -> str:
    """``host-pid``: unique per process, readable in ``XINFO CONSUMERS``."""
    return f"{socket.gethostname()}-{os.getpid()}"


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


class Worker:
    """One consumer of the group. ``run()`` until stopped, or ``run(burst=True)`` until the queue is empty."""

    def __init__(
        self,
        memory: AsyncMemory,
        queue: EventQueue,
        config: PipelineConfig,
        *,
        consumer: str | None = None,
    ) -> None:
        self.memory = memory
        self.tenants = Tenants(memory.settings, memory)  # events of other tenants go to their stores
        self.queue = queue
        self.config = config
        self.consumer = consumer or config.consumer or default_consumer()
        self.report = WorkerReport()
        self.state = "starting"
        self._stop = asyncio.Event()
        self._give_up_s: float | None = None  # burst mode: how long Redis may fail before the run ends
        self.stopped_by: int | None = None  # the signal that stopped the run at once, if one did
        self._clock_offset_ms = 0  # this host's clock minus the queue's (see _skip_forgotten)
        self._in_flight: dict[str, str] = {}  # stream id -> event id, for the lease keep-alive
        self._owners: set[str] = set()  # the owners' locks held while their adds run (kept alive too)
        self._done_times: deque[tuple[float, int]] = deque()
        self._started = time.monotonic()
        self._started_at = datetime.now(UTC).isoformat(timespec="seconds")

    # -- life cycle ----------------------------------------------------------
    def stop(self) -> None:
        """Finish the batch in hand, then return from :meth:`run` (what SIGTERM does)."""
        if not self._stop.is_set():
            log.info("worker %s: draining (finishing the current batch)", self.consumer)
            self.state = "draining"
        self._stop.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT drain; a second one cancels the run."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def on_signal(sig: int) -> None:
            if self._stop.is_set() and task is not None:
                log.warning("worker %s: second signal: stopping at once", self.consumer)
                self.stopped_by = sig
                task.cancel()
            self.stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)

    @property
    def lease_ms(self) -> int:
        return self.config.claim_idle_ms

    @property
    def heartbeat_s(self) -> float:
        return min(5.0, self.config.claim_idle_ms / 3000)

    @property
    def heartbeat_ttl_ms(self) -> int:
        """How long a heartbeat (and the claim on the name) lasts: three intervals."""
        return int(self.heartbeat_s * 3000)

    def rate(self) -> float:
        """Events finished per second over the last minute."""
        now = time.monotonic()
        while self._done_times and self._done_times[0][0] < now - RATE_WINDOW_S:
            self._done_times.popleft()
        span = min(RATE_WINDOW_S, max(1e-3, now - self._started))
        return round(sum(n for _, n in self._done_times) / span, 3)

    def info(self) -> dict[str, Any]:
        return {
            "consumer": self.consumer,
            "group": self.config.group,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "state": self.state,
            "started_at": self._started_at,
            "heartbeat_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "rate": self.rate(),
            **self.report.to_dict(),
        }

    async def run(self, *, burst: bool = False) -> WorkerReport:
        """Process events until :meth:`stop` (or, with ``burst``, until nothing is left to do)."""
        self._give_up_s = BURST_CONNECT_S if burst else None
        await self._connect(give_up_s=self._give_up_s)
        # Not stopped by stop(): while a drain finishes the batch in hand, its leases must stay alive.
        beating = asyncio.Event()
        beating.set()
        beat = asyncio.create_task(self._heartbeats(beating))
        self.state = "running"
        stream, group = self.queue.keys.stream, self.config.group
        log.info("worker %s: consuming %s (group %s)", self.consumer, stream, group)
        try:
            await self._loop(burst)
        finally:
            self._stop.set()
            beating.clear()  # ends the loop even if the cancel below lands in a Redis call that eats it
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            try:
                await self.queue.leave(self.consumer)
            except StorageError as exc:
                log.warning("worker %s: could not leave the group cleanly: %s", self.consumer, exc.message)
            await self.tenants.close()
            log.info("worker %s: stopped (%s)", self.consumer, self.report.to_dict())
        return self.report

    async def _connect(self, *, give_up_s: float | None = None) -> None:
        """Reach Redis, trying again and again; with ``give_up_s`` (burst mode: a job run by cron
        must not pile up behind a Redis that is down) only that long."""
        delay, started = 0.1, time.monotonic()
        while True:
            try:
                await self.queue.ensure_group()
                await self._claim_name()
                return
            except StorageError as exc:
                if self._stop.is_set():
                    raise
                if give_up_s is not None and time.monotonic() - started >= give_up_s:
                    raise StorageError(
                        f"{exc.message}; gave up after {give_up_s:.0f} s (burst mode)", backend="redis"
                    ) from exc
                log.warning("worker %s: %s; retrying in %.1f s", self.consumer, exc.message, delay)
                await self._sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)

    async def _claim_name(self) -> None:
        """Claim this worker's name with its first heartbeat. A name another process holds is
        waited for while that claim runs out (its process died: nobody renews it); one renewed
        meanwhile is a live worker's, and this one refuses to start."""
        left = await self._beat()
        deadline = time.monotonic() + (left + self.heartbeat_ttl_ms) / 1000
        while left:
            await asyncio.sleep(min(0.1, left / 1000))
            before = left
            left = await self._beat()
            if left > before or time.monotonic() > deadline:  # renewed: its holder is alive
                host = f" on {h}" if (h := await self._holder_host()) else ""
                raise ConfigError(
                    f"consumer name {self.consumer!r} is in use by a live worker{host} in group "
                    f"{self.config.group!r}: two workers under one name would take each other's events "
                    "for their own; give this one another name (memoryd worker --consumer NAME, or "
                    "leave pipeline.consumer unset: each process is then named host-pid)",
                    field="pipeline.consumer",
                )

    async def _beat(self) -> int:
        """A heartbeat, renewing the claim on the name (with the queue client's token, this
        process's): 0, or how long another process's claim has left."""
        return await self.queue.heartbeat(self.consumer, self.info(), self.heartbeat_ttl_ms)

    async def _hold(self, owners: list[str]) -> list[bool]:
        return await self.queue.hold_owners(owners, self.consumer, self.lease_ms)

    async def _let_go(self, owners: list[str]) -> None:
        await self.queue.release_owners(owners, self.consumer)

    async def _holder_host(self) -> str:
        try:
            infos = await self.queue.worker_info(self.consumer)
        except StorageError:
            return ""
        return ", ".join(f"{w.get('host')} (pid {w.get('pid')})" for w in infos if w.get("host"))

    def _give_up_after(self, failing_since: float, exc: StorageError) -> None:
        """In burst mode, end the run once Redis has failed for ``BURST_CONNECT_S``."""
        if self._give_up_s is not None and time.monotonic() - failing_since >= self._give_up_s:
            raise StorageError(f"{exc.message}; gave up after {self._give_up_s:.0f} s (burst mode)") from exc

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    async def _heartbeats(self, beating: asyncio.Event) -> None:
        """Every ``heartbeat_s`` while ``beating`` is set (:meth:`run` clears it once the loop has
        returned): extend the leases of the batch in hand, and say this worker is alive."""
        while beating.is_set():
            await asyncio.sleep(self.heartbeat_s)
            try:
                if self._in_flight:
                    held = dict(self._in_flight)
                    await self.queue.keepalive(
                        self.consumer, list(held), list(held.values()), self.lease_ms
                    )
                if self._owners:
                    await self._hold(sorted(self._owners))
                if await self._beat():
                    log.error(
                        "worker %s: another process took this name while this one did not renew it (stalled "
                        "past its heartbeats); stopping, so that the two do not share it",
                        self.consumer,
                    )
                    self.stop()
            except StorageError as exc:
                log.warning("worker %s: heartbeat failed: %s", self.consumer, exc.message)

    async def _loop(self, burst: bool) -> None:
        own_pending = True  # after a (re)start: first what this consumer was given before
        seen_own: set[str] = set()
        delay = 0.1
        failing_since: float | None = None
        while not self._stop.is_set():
            try:
                if own_pending:
                    deliveries = [
                        d
                        for d in await self.queue.read(self.consumer, self.config.batch_size, None, own=True)
                        if d.stream_id not in seen_own
                    ]
                    seen_own.update(d.stream_id for d in deliveries)
                    own_pending = bool(deliveries)
                else:
                    await self.queue.move_due_retries(self.config.batch_size * 4)
                    deliveries = await self.queue.claim_idle(
                        self.consumer, self.config.claim_idle_ms, self.config.batch_size
                    )
                    self.report.reclaimed += len(deliveries)
                    if not deliveries:
                        block = min(self.config.block_ms, 200) if burst else self.config.block_ms
                        deliveries = await self.queue.read(self.consumer, self.config.batch_size, block)
                if deliveries:
                    await self.process(deliveries)
                elif burst and not own_pending:
                    if await self.queue.outstanding() == 0:
                        return
                    await self._sleep(0.05)  # retries not yet due, or events other workers hold
                delay, failing_since = 0.1, None
            except StorageError as exc:  # Redis is down or restarting: wait, then start over
                failing_since = failing_since or time.monotonic()
                self._give_up_after(failing_since, exc)
                log.warning("worker %s: %s; retrying in %.1f s", self.consumer, exc.message, delay)
                await self._sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                own_pending, seen_own = True, set()
            except Exception:  # a bug; what the batch held stays pending and is redelivered later
                log.exception("worker %s: unexpected error; going on in %.1f s", self.consumer, delay)
                await self._sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)

    # -- one batch -------------------------------------------------------------
    async def process(self, deliveries: list[Delivery]) -> None:
        """Process one batch of deliveries and record every outcome."""
        self.report.batches += 1
        outcomes: list[Outcome] = []
        candidates: list[Job] = []
        seen: dict[str, str] = {}  # event id -> the digest of its add
        for d in deliveries:
            if not d.fields:  # an entry deleted while pending
                outcomes.append(Outcome("ack", d))
                continue
            try:
                event = PipelineEvent.from_fields(d.fields)
            except InvalidInputError as exc:
                outcomes.append(self._dead(d, readable_event_id(d.fields), exc, d.deliveries))
                continue
            except Exception as exc:  # noqa: BLE001 - whatever else an entry holds: unreadable too
                why = f"event cannot be read ({type(exc).__name__}: {exc})"
                unreadable = InvalidInputError(why, field="event")
                outcomes.append(self._dead(d, readable_event_id(d.fields), unreadable, d.deliveries))
                continue
            digest = event.payload.digest()
            if event.event_id in seen:  # the same event twice in one batch, or another add under its id
                same = seen[event.event_id] == digest
                attempts = event.attempt + d.deliveries - 1
                outcomes.append(Outcome("ack", d) if same else self._conflict(d, event, attempts))
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
            try:
                await self._run_jobs(jobs, ran)
            except Exception as exc:  # noqa: BLE001 - a bug must not kill the worker: retry what is left
                log.exception("worker %s: unexpected error processing a batch", self.consumer)
                finished = {o.delivery.stream_id for o in ran}
                ran.extend(self._failed(job, exc) for job in jobs if job.delivery.stream_id not in finished)
            outcomes.extend(ran)
            await self._record(outcomes)
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
            except Exception as exc:  # noqa: BLE001 - the tenant's store did not open: retry later
                outcomes.extend(self._failed(job, exc) for job in group)
                continue
            # Applied already (a commit racing this check is refused whole by the store, too)?
            group = await self._skip_applied(memory, group, outcomes)
            most = self.config.max_attempts
            outcomes.extend(self._gave_up(job) for job in group if job.attempts > most)
            group = [job for job in group if job.attempts <= most]
            down = await self._embed_ahead(memory, group)  # before the owners' locks: see .prefetch
            if down is not None:  # the embedder is down or overloaded: each add would only fail again
                outcomes.extend(self._failed(job, down) for job in group)
                continue
            held = await self._hold_owners([_owner_of(tenant, job) for job in group])
            try:
                # Again, now that no other worker adds for these users: one that held a lock a
                # moment ago may have committed an event of this batch (a stalled lease).
                group = await self._skip_applied(memory, group, outcomes)
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
            if results is None:
                return [self._failed(job, exc) for job in jobs]
            by_entry = {job.delivery.stream_id: job for job in jobs}
            return [
                self._failed(by_entry[o.delivery.stream_id], exc) if o.kind == "done" else o
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
                outcomes.append(self._conflict(job.delivery, job.event, job.attempts))
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
                data = normalise_add(
                    p.messages,
                    scope=Scope(p.user_id, p.agent_id, p.run_id),
                    metadata=p.metadata,
                    timestamp=p.timestamp,
                    mode=p.mode,
                    default_mode=default_mode,
                    limits=self.memory.settings.limits,
                )
            except MemorydError as exc:
                outcomes.append(self._dead(job.delivery, job.event.event_id, exc, job.attempts))
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
            outcomes.append(self._skipped(job, _ERASED))
        return kept

    def _enqueued_here(self, event: PipelineEvent) -> float:
        """When ``event`` was enqueued (s), on this host's clock, for the store's erasure check."""
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
                created_at=self._enqueued_here(j.event),
            )
            for j in call.jobs
        ]
        try:
            with applying_events(events):
                results = await self._add(memory, call)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an outcome: retry or dead letter
            if isinstance(exc, EventAppliedError) and len(call.jobs) == 1:
                return [self._skipped(call.jobs[0], _APPLIED)]  # another delivery of it, or the sync path
            if isinstance(exc, EventErasedError) and len(call.jobs) == 1:
                return [self._skipped(call.jobs[0], _ERASED)]  # its user was erased while it ran
            if len(call.jobs) > 1 and not is_transient(exc):
                out: list[Outcome] = []  # find the culprit: each event on its own
                for job, start, count in zip(call.jobs, call.offsets, call.counts):
                    solo = AddCall([job], call.mode, call.messages[start : start + count], [0], [count])
                    out.extend(await self._run_call(memory, solo))
                return out
            if is_transient(exc) and not isinstance(exc, MemorydError):
                log.exception("events %s: unexpected error", [j.event.event_id for j in call.jobs])
            return [self._failed(job, exc) for job in call.jobs]
        return [
            Outcome("done", job.delivery, event_id=job.event.event_id, result=result, attempts=job.attempts)
            for job, result in zip(call.jobs, split_results(call, results))
        ]

    async def _skip_applied(self, memory: AsyncMemory, jobs: list[Job], outcomes: list[Outcome]) -> list[Job]:
        """Jobs whose event the store recorded as applied end here, done with nothing stored again
        (another add recorded under the id, one whose status expired, is not this event: it runs)."""
        applied = await memory.storage.records.applied([job.event.event_id for job in jobs])

        def done(job: Job) -> bool:
            return applied.get(job.event.event_id) == job.digest

        outcomes.extend(self._skipped(job, _APPLIED) for job in jobs if done(job))
        return [job for job in jobs if not done(job)]

    def _gave_up(self, job: Job) -> Outcome:
        d = job.delivery
        gave_up = MemorydError(
            f"delivered {d.deliveries} times without an outcome (the workers holding it died or "
            f"stalled); attempt {job.attempts} is over pipeline.max_attempts ({self.config.max_attempts})"
        )
        return self._dead(d, job.event.event_id, gave_up, job.attempts)

    def _conflict(self, d: Delivery, event: PipelineEvent, attempts: int) -> Outcome:
        """Dead-lettered, not dropped: the event's id names another add now (its status record keeps
        that add's digest: the id was reused after this event's status expired), so this delivery
        is neither that add nor a duplicate of it. Its status record, the other add's, is left alone."""
        conflict = ConflictError(
            f"event id {event.event_id!r} names another add now (its body or user differs from this "
            "event's): not processed, so as not to be taken for it; replay this dead letter once that "
            "event's status has expired, or add it again under an id of its own",
            field="event_id",
        )
        dead = self._dead(d, event.event_id, conflict, attempts)
        return replace(dead, event_id=None)

    @staticmethod
    def _skipped(job: Job, why: str) -> Outcome:
        """Done with nothing stored (the store had it already, or its user was erased), saying why."""
        event_id = job.event.event_id
        log.info("event %s: nothing stored: %s", event_id, why)
        result = {"results": [], "skipped": why}
        return Outcome("done", job.delivery, event_id=event_id, result=result, attempts=job.attempts)

    def _failed(self, job: Job, exc: BaseException) -> Outcome:
        if not is_transient(exc) or job.attempts >= self.config.max_attempts:
            return self._dead(job.delivery, job.event.event_id, exc, job.attempts)
        delay = backoff_ms(job.attempts, self.config.backoff_base_ms, self.config.backoff_max_ms)
        error = error_info(exc, attempt=job.attempts)
        log.warning(
            "event %s: attempt %d failed (%s); retrying in %.1f s",
            job.event.event_id, job.attempts, error["message"], delay / 1000,
        )  # fmt: skip
        return Outcome(
            "retry",
            job.delivery,
            event_id=job.event.event_id,
            event=job.event.retried(error, job.attempts + 1),
            delay_ms=delay,
            error=error,
            attempts=job.attempts,
        )

    def _dead(self, d: Delivery, event_id: str | None, exc: BaseException, attempts: int) -> Outcome:
        error = error_info(exc, attempt=attempts)
        where = event_id or d.stream_id
        log.warning("event %s: dead-lettered after %d attempt(s): %s", where, attempts, error["message"])
        return Outcome("dead", d, event_id=event_id, error=error, attempts=attempts)

    async def _record(self, outcomes: list[Outcome]) -> None:
        """Record the outcomes; while Redis is away, keep trying (a restart must not lose them)."""
        delay, started = 0.1, time.monotonic()
        while True:
            try:
                await self.queue.finish(outcomes, self.consumer, self.config.result_ttl_s)
                break
            except StorageError as exc:
                given_up = self._give_up_s is not None and time.monotonic() - started >= self._give_up_s
                if (self._stop.is_set() and delay >= RECONNECT_MAX_S) or given_up:
                    log.error(
                        "worker %s: could not record %d outcomes (%s); their events stay pending and will "
                        "be redelivered (the store turns repeats into NOOPs)",
                        self.consumer, len(outcomes), exc.message,
                    )  # fmt: skip
                    raise
                log.warning("worker %s: recording outcomes failed (%s); retrying", self.consumer, exc.message)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
        done = 0
        for o in outcomes:
            if o.kind == "done":
                done += 1
            elif o.kind == "ack":
                self.report.duplicates += 1
            elif o.kind == "retry":
                self.report.retried += 1
            elif o.kind == "dead":
                self.report.dead_lettered += 1
        self.report.processed += done
        if done:
            self._done_times.append((time.monotonic(), done))


def _outage(exc: Exception) -> bool:
    """Whether an embedding failure says the model's service is down or overloaded (unreachable,
    429, 5xx), not that it refused a text."""
    if not isinstance(exc, BackendUnavailableError):
        return False
    status = exc.details.get("status")
    return status is None or status == 429 or status >= 500


def _owner_of(tenant: str, job: Job) -> str:
    """Whose adds a job's are, across tenants: its tenant and owner (user, else agent, else session)."""
    kind, name = owner_key(Scope(**job.event.payload.scope()))
    return f"{tenant}:{kind}:{name}"


_ERASED = "its user was deleted (or the store reset) after it was queued"
_APPLIED = (
    "it was applied to the store already (by another delivery of it, or processed synchronously while "
    "the queue did not answer): nothing was stored again"
)


def _by_tenant(jobs: list[Job]) -> dict[str, list[Job]]:
    """Jobs grouped by the tenant whose store they write to, in stream order within each."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.event.payload.tenant or DEFAULT_TENANT, []).append(job)
    return groups
