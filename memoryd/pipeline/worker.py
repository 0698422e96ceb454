"""The worker: reads events from the stream in a consumer group and stores them with ``add``.

This module is the worker's life: its consumer loop, its connection to Redis, its name, its
heartbeats and its signals. What it does with each batch it reads — lock, validate, run the adds,
and the outcome of each event — is :mod:`.processing` (its base class) and :mod:`.outcomes`.

One loop, one batch at a time:

1. put due retries back on the stream; reclaim entries a dead worker left pending
   longer than ``claim_idle_ms`` (``XAUTOCLAIM``); else read new ones
   (``XREADGROUP``, up to ``batch_size``). After a (re)start it first re-reads its
   own pending entries.
2. process the batch (:meth:`~memoryd.pipeline.processing.BatchProcessor.process`): each
   event's lock, its validation, the adds; a heartbeat every ``heartbeat_s`` keeps the leases
   of the batch in hand alive, and says this worker is alive.
3. record every outcome and acknowledge its entry in one atomic step (:meth:`Worker._record`);
   while Redis is away, keep trying, so that a restart does not lose them.

A Redis that is down or restarting is waited for, the wait doubling up to
``RECONNECT_MAX_S``; in burst mode (``run(burst=True)``, for tests and cron jobs) the run
ends once it has failed for ``BURST_CONNECT_S``. The wait starts over only once the step that
failed has passed: re-reading its own pending entries after a failure succeeds while Redis is
back but another step may still fail every time (a script Redis refuses), and that step is backed
off from all the same. An outage costs the events it interrupts no attempt: a batch Redis failed
in stays pending (:mod:`.processing`), and it is read again with ``XPENDING`` and ``XRANGE``,
which count no delivery (``XREADGROUP 0``, used after a start, counts one: a death is an attempt).
A Redis that comes back without its data has lost the consumer group too: whichever step meets
``NOGROUP`` first recreates it (the queue does, in one place: ``RedisQueue._grouped``), and the
worker reads what was queued since. A worker whose steps have failed for ``STALLED_AFTER_S`` says
so in its heartbeats (state ``retrying``, ``error``, ``failing_since``; ``/health`` is degraded
with it) until a step passes again: a Redis may answer heartbeats and still refuse every read.
A worker claims its consumer name with its first heartbeat, and refuses to start under one a
live worker holds; one that finds its name taken while it runs (it stalled past its claim, and
another process started under the name) stops, and its run ends with a :class:`ConfigError`. In
burst mode, a store that keeps every event the run found waiting (it refuses writes) ends the run
with a :class:`StorageError`, those events queued for their retries.
An unexpected error (a bug, not an outage nor an event's own failure) is logged and the loop goes
on, what it held redelivered later; in burst mode one that comes back ``BURST_UNEXPECTED`` times in
a row, with no batch processed between, ends the run with a :class:`MemorydError` naming it, what it
held left pending (nothing acknowledged): retried for ever, it kept a cron job from ending.

SIGTERM (or SIGINT) drains: the batch in hand is finished and recorded, then the
worker leaves; its leases are kept alive until then, so no other worker takes
that batch over meanwhile. A second signal stops at once (what it held is
redelivered).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from memoryd.config import PipelineConfig
from memoryd.errors import ConfigError, MemorydError, StorageError
from memoryd.memory import AsyncMemory
from memoryd.pipeline.base import EventQueue, Outcome
from memoryd.pipeline.processing import BatchProcessor, WorkerReport
from memoryd.pipeline.redis_health import misconfigured
from memoryd.wording import counted

__all__ = ["Worker", "WorkerReport", "default_consumer"]

log = logging.getLogger("memoryd.pipeline")

RATE_WINDOW_S = 60.0
RECONNECT_MAX_S = 2.0  # longest wait between attempts to reach Redis again
BURST_CONNECT_S = 30.0  # how long a --burst worker tries to reach Redis before it gives up (exit 1)
STALLED_AFTER_S = 10.0  # a worker failing this long says "retrying" (and why) in its heartbeat
BURST_UNEXPECTED = 3  # unexpected errors in a row (no batch processed between) that end a --burst run


def default_consumer() -> str:
    """``host-pid``: unique per process, readable in ``XINFO CONSUMERS``."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Worker(BatchProcessor):
    """One consumer of the group. ``run()`` until stopped, or ``run(burst=True)`` until the queue is empty."""

    def __init__(
        self,
        memory: AsyncMemory,
        queue: EventQueue,
        config: PipelineConfig,
        *,
        consumer: str | None = None,
    ) -> None:
        super().__init__(memory, queue, config, consumer or config.consumer or default_consumer())
        self.state = "starting"
        self._stop = asyncio.Event()
        self._give_up_s: float | None = None  # burst mode: how long Redis may fail before the run ends
        self.stopped_by: int | None = None  # the signal that stopped the run at once, if one did
        self._done_times: deque[tuple[float, int]] = deque()
        self._started = time.monotonic()
        self._started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._store_error: str | None = None  # why events waited on the store, until one is stored again
        self._store_error_at = 0.0  # when an event last waited on it (monotonic)
        self.failure: tuple[str, str] | None = None  # since when and why its steps fail, past STALLED_AFTER_S
        self._down_since: float | None = None  # when its steps on Redis began to fail (monotonic)
        self._burst = False
        # Burst mode: the events that waited on the store since an add was last stored, and since
        # when (monotonic) they have (_burst_waits).
        self._waited: set[str] = set()
        self._waiting_since: float | None = None
        # Why the run ends with an error rather than a clean stop: its name taken, or (burst mode)
        # every event it found waiting on the store.
        self._ended: MemorydError | None = None

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
        store_error = self.store_error
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
            **({"store_error": store_error} if store_error is not None else {}),
            **({"failing_since": self.failure[0], "error": self.failure[1]} if self.failure else {}),
        }

    @property
    def store_error(self) -> str | None:
        """Why this worker's events wait on the store (it refuses their adds), while that still
        holds as far as this worker knows: until one of its adds is stored again, and only while
        an event of its waited on it within twice the longest retry delay. Past that, another
        worker stored its events (or they were erased) and the refusal is nobody's news, so it is
        not said. A read: it changes nothing."""
        if self._store_error is None:
            return None
        fresh_s = 2 * self.config.backoff_max_ms / 1000 + 1
        return self._store_error if time.monotonic() - self._store_error_at <= fresh_s else None

    async def run(self, *, burst: bool = False, started: Callable[[], None] | None = None) -> WorkerReport:
        """Process events until :meth:`stop` (or, with ``burst``, until nothing is left to do);
        ``started`` is called once Redis answers and this worker holds its name."""
        self._burst = burst
        self._give_up_s = BURST_CONNECT_S if burst else None
        if not await self._connect(give_up_s=self._give_up_s):  # stopped while it waited for Redis
            log.info("worker %s: stopped before Redis answered (it held nothing)", self.consumer)
            await self.tenants.close()
            return self.report
        if started is not None:
            started()
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
            log.info("worker %s: stopped: %s", self.consumer, self.report.said())
        return self.report

    async def _connect(self, *, give_up_s: float | None = None) -> bool:
        """Reach Redis, trying again and again; with ``give_up_s`` (burst mode: a job run by cron
        must not pile up behind a Redis that is down) only that long. False: stopped (SIGTERM)
        while it waited, which is a stop like any other, not a failure: the worker held nothing."""
        delay, started = 0.1, time.monotonic()
        while True:
            try:
                await self.queue.ensure_group()
                await self._claim_name()
                return True
            except StorageError as exc:
                _not_retried(exc)
                if self._stop.is_set():
                    return False
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
        if left:  # else a silent wait of up to three heartbeat intervals
            host = f" on {h}" if (h := await self._holder_host()) else ""
            log.info(
                "worker %s: consumer name %r is claimed by another process%s; waiting up to %.1f s for "
                "its claim to run out (a worker that died renews it no more: this one then starts; a live "
                "one does, and this one refuses to start)", self.consumer, self.consumer, host, left / 1000,
            )  # fmt: skip
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
        self._failing(failing_since, exc)

    def _failing(self, failing_since: float, exc: StorageError) -> None:
        """Once Redis has failed a step for ``STALLED_AFTER_S``, the worker's state is ``retrying``,
        with why and since when (its heartbeats say so, and ``/health`` with them: a Redis that answers
        heartbeats may still refuse every read), until a step passes again (:meth:`_going`)."""
        self._down_since = min(failing_since, self._down_since or failing_since)
        failed_s = time.monotonic() - failing_since
        if failed_s >= STALLED_AFTER_S and self.state in ("running", "retrying"):
            since = datetime.now(UTC) - timedelta(seconds=failed_s)
            self.state, self.failure = "retrying", (since.isoformat(timespec="seconds"), exc.message)

    def _going(self) -> None:
        """A step passed: a worker that was ``retrying`` runs again; one whose steps failed (the
        warnings said so, each time) says they pass again."""
        if self.state == "retrying":
            self.state = "running"
        self.failure = None
        if self._down_since is not None:
            down_s, self._down_since = time.monotonic() - self._down_since, None
            log.info("worker %s: Redis answers again after %.1f s; going on", self.consumer, down_s)

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
                    self._name_taken()
            except StorageError as exc:
                log.warning("worker %s: heartbeat failed: %s", self.consumer, exc.message)

    def _name_taken(self) -> None:
        """Another process holds this worker's name now: this one stalled past its claim (three
        heartbeats) and a worker started under the name meanwhile. This one stops (the batch in hand
        is finished first), so that the two do not share the name, and its run ends with a
        :class:`ConfigError` (``memoryd worker`` exits 2, as a worker refused that name at start does):
        no clean stop, which a supervisor would take for one."""
        self._ended = ConfigError(
            f"another process took this worker's consumer name {self.consumer!r} in group "
            f"{self.config.group!r} while this one did not renew its claim (it stalled past its "
            f"heartbeats, {self.heartbeat_ttl_ms / 1000:g} s: an overloaded host, a paused VM or "
            "container); this one stopped so that two processes do not share one name. Give each "
            "worker a name of its own (memoryd worker --consumer NAME, or leave pipeline.consumer "
            "unset: each process is then named host-pid), and start this one again once the other is gone",
            field="pipeline.consumer",
        )
        log.error("worker %s: %s", self.consumer, self._ended.message)
        self.stop()

    async def _loop(self, burst: bool) -> None:
        own_pending = True  # after a (re)start: first what this consumer was given before
        after_failure = False  # that re-reading follows a Redis failure, not a start
        seen_own: set[str] = set()
        delay = 0.1
        failing_since: float | None = None
        held, why = 0, ""  # the batch in hand (entries) until it is recorded, and why it was not
        unexpected = 0  # unexpected errors since a batch was last processed (see BURST_UNEXPECTED)
        while not self._stop.is_set():
            rereading = own_pending
            try:
                if own_pending:
                    # After a Redis failure the entries were this worker's already (in the batch
                    # Redis failed in, or given by a read whose answer was lost): read without
                    # counting one more delivery. After a start, a death is counted: an event that
                    # kills its worker each time reaches the dead letters.
                    own = await self.queue.read(
                        self.consumer, self.config.batch_size, None, own=True, recount=not after_failure
                    )
                    deliveries = [d for d in own if d.stream_id not in seen_own]
                    seen_own.update(d.stream_id for d in deliveries)
                    own_pending = bool(deliveries)
                    after_failure = after_failure and own_pending
                else:
                    await self.queue.move_due_retries(self.config.batch_size * 4)
                    deliveries = await self.queue.claim_idle(
                        self.consumer, self.config.claim_idle_ms, self.config.batch_size
                    )
                    self.report.reclaimed += len(deliveries)
                    if not deliveries:
                        block = min(self.config.block_ms, 200) if burst else self.config.block_ms
                        deliveries = await self.queue.read(self.consumer, self.config.batch_size, block)
                held = len(deliveries)
                if deliveries:
                    await self.process(deliveries)
                    held = unexpected = 0
                elif burst and not own_pending:
                    if await self.queue.outstanding() == 0:
                        return
                    await self._sleep(0.05)  # retries not yet due, or events other workers hold
                if not rereading:  # the loop's every step passed: a failure before is over
                    delay, failing_since = 0.1, None
                    self._going()
            except StorageError as exc:  # Redis is down or restarting: wait, then start over
                _not_retried(exc)
                why = exc.message
                failing_since = failing_since or time.monotonic()
                self._give_up_after(failing_since, exc)
                log.warning("worker %s: %s; retrying in %.1f s", self.consumer, exc.message, delay)
                await self._sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                own_pending, after_failure, seen_own = True, True, set()
            except Exception as exc:  # a bug; what the batch held stays pending and is redelivered later
                why = f"unexpected error: {type(exc).__name__}: {exc}"
                unexpected += 1
                if burst and unexpected >= BURST_UNEXPECTED:  # the same bug each time, most likely
                    log.exception("worker %s: unexpected error; stopping (burst mode)", self.consumer)
                    raise _gave_up(why, unexpected) from exc
                log.exception("worker %s: unexpected error; going on in %.1f s", self.consumer, delay)
                await self._sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
        if self._ended is not None:  # not a drain: the run could not go on
            raise self._ended
        if held:  # stopped before the batch in hand was recorded: a drain that failed is no clean stop
            raise StorageError(
                f"{why}; stopped with the batch in hand not recorded: its "
                f"{counted(held, 'event stays', 'events stay')} pending and will be redelivered to another "
                "worker (the store turns repeats into NOOPs)",
                backend="redis",
            )

    async def _record(self, outcomes: list[Outcome]) -> None:
        """Record the outcomes; while Redis is away, keep trying (a restart must not lose them)."""
        delay, started = 0.1, time.monotonic()
        while True:
            try:
                await self.queue.finish(outcomes, self.consumer, self.config.result_ttl_s)
                break
            except StorageError as exc:
                if misconfigured(exc):  # no retry mends it: the run ends (see _not_retried)
                    raise
                given_up = self._give_up_s is not None and time.monotonic() - started >= self._give_up_s
                if (self._stop.is_set() and delay >= RECONNECT_MAX_S) or given_up:
                    log.error(
                        "worker %s: could not record %d outcomes (%s); their events stay pending and will "
                        "be redelivered (the store turns repeats into NOOPs)",
                        self.consumer, len(outcomes), exc.message,
                    )  # fmt: skip
                    raise
                self._failing(started, exc)
                log.warning("worker %s: recording outcomes failed (%s); retrying", self.consumer, exc.message)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
        self._going()
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
        waiting = [o.error for o in outcomes if o.kind == "retry" and o.error and o.error.get("outages")]
        if waiting:  # the store's outage (see .outcomes.waits): said in heartbeats until it ends
            self._store_error = str(waiting[-1].get("message"))
            self._store_error_at = time.monotonic()
            self._burst_waits([o for o in outcomes if o.kind == "retry" and (o.error or {}).get("outages")])
        elif done:
            self._store_error = None
        if done:
            self._waited, self._waiting_since = set(), None
            self._done_times.append((time.monotonic(), done))

    def _burst_waits(self, waiting: list[Outcome]) -> None:
        """In burst mode, end the run once the store has kept events waiting for ``BURST_CONNECT_S``
        (as long as a burst waits for Redis) with no add stored meanwhile, and an event waits again
        since then: the stream is read in order and a waiting event goes back at its end, so every
        event the burst found has been tried by then; waiting on could be forever, since a wait uses
        up no attempt. The events stay queued for their retries, as recorded."""
        now = time.monotonic()
        ids = {o.event_id or o.delivery.stream_id for o in waiting}
        came_round = bool(ids & self._waited)
        self._waited |= ids
        self._waiting_since = self._waiting_since or now
        if not self._burst or not came_round or now - self._waiting_since < BURST_CONNECT_S:
            return
        self._ended = StorageError(
            f"the store refuses the adds or does not answer ({self._store_error}): the "
            f"{counted(len(self._waited), 'event', 'events')} this burst found waited on it for "
            f"{BURST_CONNECT_S:.0f} s, and "
            "wait on, queued for a retry with no attempt used up; stopped (burst mode) rather than wait "
            "for the store: make it writable again (free the disk, fix the file's or mount's permissions), "
            "then run the worker again"
        )
        log.error("worker %s: %s", self.consumer, self._ended.message)
        self._stop.set()


def _gave_up(why: str, times: int) -> MemorydError:
    """How a burst run ends on an error it cannot classify that came back ``times`` times in a row
    (exit 1): retrying it for ever would keep a cron job from ending."""
    return MemorydError(
        f"{why} ({times} times in a row with no batch processed); stopped (burst mode) rather than "
        "retry it for ever: the events it met stay queued or pending, none acknowledged, and will be "
        "processed by the next run once the cause is fixed (the log has each traceback)"
    )


def _not_retried(exc: StorageError) -> None:
    """A password Redis refuses (wrong, or none given), or a database it does not have, is the
    configuration's error, not an outage to wait out: the worker stops at once (:class:`ConfigError`,
    ``memoryd worker`` exits 2)."""
    if misconfigured(exc):
        raise ConfigError(exc.message, field="pipeline.redis_url") from exc
