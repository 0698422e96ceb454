"""What the pipeline needs of its Redis, checked where someone will see it: eviction, persistence,
lost data, and whether events finish.

- **Eviction.** Queued events live only in Redis, so a Redis that evicts keys when it is full
  (a ``maxmemory-policy`` other than ``noeviction``, with a ``maxmemory``) drops events the
  server already answered 202 for. :func:`check_at_start` refuses it (:class:`ConfigError`
  naming the setting) when the server or a worker starts; found later (the policy changed at
  run time, or Redis was down at start) it makes the pipeline ``degraded`` and is logged as an
  ERROR once per process. An evicting policy with no ``maxmemory`` evicts nothing yet: a warning.
- **Persistence.** Without the append-only file (``appendonly yes``) a restart loses what is
  queued (with RDB snapshots only, what was queued since the last one): a warning, logged once
  at start and shown in ``/health``'s ``warnings`` and by ``memoryd doctor``.
- **Lost data.** The marker key (:attr:`Keys.marker`) is set when the pipeline first sets up
  its keys. A process that saw it and finds it gone knows Redis lost its data (a restart with
  nothing persisted, a flush, eviction): it records the loss (:attr:`Keys.data_lost`, kept
  ``pipeline.result_ttl_s`` unless an operator deletes it to acknowledge it) and sets a new
  marker. While the record is there every process reports it: ``/health`` is ``degraded``,
  each process logs one ERROR, an event lookup's 404 says the event may have been lost.
- **Progress.** Readers sample the counters into :attr:`Keys.progress`; :func:`failing` finds
  the pipeline failing when, over the last :func:`progress_window_ms`, events were
  dead-lettered or retried and none was processed.

This module is part of the Redis backend (it uses :class:`RedisQueue`'s client; the ``redis``
library is imported only when a queue of that backend exists).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from memoryd.config import PipelineConfig
from memoryd.errors import ConfigError, StorageError
from memoryd.pipeline.base import EventQueue
from memoryd.pipeline.keys import Keys

__all__ = [
    "DataLoss",
    "Findings",
    "RedisFacts",
    "RedisWatch",
    "check_at_start",
    "eviction_problem",
    "failing",
    "inspect",
    "keep_watching",
    "progress_window_ms",
    "recorded_loss",
    "setup_warnings",
]

log = logging.getLogger("memoryd.pipeline")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# -- what Redis is configured to do ----------------------------------------------------------------
@dataclass(frozen=True)
class RedisFacts:
    """What ``INFO`` (and ``CONFIG GET save``, when allowed) say about keeping the pipeline's keys."""

    policy: str | None  # maxmemory_policy
    maxmemory: int  # bytes; 0: no limit
    aof: bool | None  # aof_enabled
    save: str | None  # the RDB save points ("": none; None: CONFIG GET refused)
    uptime_s: int | None

    @classmethod
    def of(cls, memory: Any, persistence: Any, server: Any, save: Any) -> RedisFacts:
        memory = memory if isinstance(memory, dict) else {}
        persistence = persistence if isinstance(persistence, dict) else {}
        server = server if isinstance(server, dict) else {}
        aof = _int(persistence.get("aof_enabled"))
        points = save.get("save") if isinstance(save, dict) else None
        return cls(
            policy=str(memory["maxmemory_policy"]) if "maxmemory_policy" in memory else None,
            maxmemory=_int(memory.get("maxmemory")) or 0,
            aof=None if aof is None else aof == 1,
            save=None if points is None else str(points).strip(),
            uptime_s=_int(server.get("uptime_in_seconds")),
        )


def _bytes(n: int) -> str:
    for unit in ("b", "kb", "mb", "gb"):
        if n < 1024 or unit == "gb":
            return f"{n:g}{unit}" if unit == "b" else f"{n:.4g}{unit}"
        n = n / 1024  # type: ignore[assignment]
    return str(n)


def eviction_problem(facts: RedisFacts, where: str) -> str | None:
    """Why this Redis would drop queued events when it is full, or ``None``."""
    if facts.policy in (None, "noeviction") or facts.maxmemory <= 0:
        return None
    return (
        f"Redis at {where} evicts keys when it is full (maxmemory-policy {facts.policy}, maxmemory "
        f"{_bytes(facts.maxmemory)}): it would drop events already answered 202 'queued', their status "
        "and the consumer group. Set maxmemory-policy noeviction (redis.conf, or `redis-cli CONFIG SET "
        "maxmemory-policy noeviction`; on a managed Redis, its parameter group), or give the pipeline a "
        "Redis of its own"
    )


def setup_warnings(facts: RedisFacts, where: str) -> list[str]:
    """What is risky but not refused: an evicting policy with no limit yet, no persistence."""
    out: list[str] = []
    if facts.policy not in (None, "noeviction") and facts.maxmemory <= 0:
        out.append(
            f"Redis at {where} has maxmemory-policy {facts.policy} but no maxmemory, so it evicts nothing "
            "yet; set maxmemory-policy noeviction before anyone gives it a memory limit"
        )
    if facts.aof is False:
        if facts.save:
            what = (
                "keeps no append-only file (appendonly no), only RDB snapshots: events queued since "
                "the last snapshot are lost if it restarts"
            )
        elif facts.save == "":
            what = (
                "has no persistence (appendonly no, no RDB save points): a restart loses every "
                "queued event and its status"
            )
        else:
            what = (
                "keeps no append-only file (appendonly no), and whether it takes RDB snapshots cannot be "
                "read (CONFIG GET save was refused): a restart may lose queued events"
            )
        out.append(f"Redis at {where} {what}; set appendonly yes")
    return out


# -- lost data -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataLoss:
    """A recorded loss of Redis's data (the hash at :attr:`Keys.data_lost`)."""

    id: str
    lost_before: str
    detected_at: str
    detected_by: str

    @classmethod
    def of(cls, data: Any) -> DataLoss | None:
        if not isinstance(data, dict) or not data.get("id"):
            return None
        return cls(
            str(data["id"]), str(data.get("lost_before", "?")), str(data.get("detected_at", "?")),
            str(data.get("detected_by", "?")),
        )  # fmt: skip

    def message(self, keys: Keys) -> str:
        return (
            f"Redis lost its data: events queued before {self.lost_before} that had not ended are lost, "
            f"with their status (found at {self.detected_at} by {self.detected_by}); send those adds again "
            f"(an event_id the store holds is never applied twice), then acknowledge with "
            f"`redis-cli DEL {keys.data_lost}`"
        )

    def to_dict(self) -> dict[str, str]:
        return {"lost_before": self.lost_before, "detected_at": self.detected_at,
                "detected_by": self.detected_by}  # fmt: skip


class RedisWatch:
    """One process's memory of its Redis: the marker it last saw, and what it has logged once."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.marker: str | None = None
        self.marker_seen_ms: int | None = None
        self._logged: set[str] = set()

    def once(self, level: int, text: str) -> None:
        if text not in self._logged:
            self._logged.add(text)
            log.log(level, "async pipeline: %s", text)

    async def look(
        self, client: Any, keys: Keys, found: str | None, facts: RedisFacts, ttl_s: int, now: int
    ) -> None:
        """Given the marker as just read (``found``) at ``now`` (Redis's clock, ms): set it if
        missing, and record a loss if this process had seen it before."""
        if found is not None:
            self.marker, self.marker_seen_ms = found, now
            return
        fresh = f"{now}:{uuid.uuid4().hex}"
        if await client.set(keys.marker, fresh, nx=True):
            if self.marker is not None:  # it was there, and is gone
                await self._record_loss(client, keys, facts, now, ttl_s)
            self.marker = fresh
        else:  # another process set it a moment ago (and recorded the loss, if it was one)
            self.marker = await client.get(keys.marker)
        self.marker_seen_ms = now

    async def _record_loss(self, client: Any, keys: Keys, facts: RedisFacts, now: int, ttl_s: int) -> None:
        # Redis restarted since the marker was last seen: what was queued before the restart is lost;
        # else (a flush, eviction) all that was queued before now.
        lost_before = now
        if facts.uptime_s is not None and self.marker_seen_ms is not None:
            started = now - facts.uptime_s * 1000
            if started > self.marker_seen_ms:
                lost_before = started
        record = {"id": uuid.uuid4().hex, "lost_before": _iso(lost_before), "detected_at": _iso(now),
                  "detected_by": self.who}  # fmt: skip
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(keys.data_lost, mapping=record)
            pipe.expire(keys.data_lost, ttl_s)
            await pipe.execute()


async def recorded_loss(queue: EventQueue) -> DataLoss | None:
    """The loss of data recorded in this pipeline's Redis, if one is (and it can be read)."""
    client = getattr(queue, "client", None)
    if client is None:
        return None
    try:
        with queue.errors("read the data-loss record"):  # type: ignore[attr-defined]
            return DataLoss.of(await client.hgetall(queue.keys.data_lost))
    except StorageError:
        return None


# -- progress ------------------------------------------------------------------------------------------
def progress_window_ms(config: PipelineConfig) -> int:
    """How long a working pipeline may go without finishing anything while events fail: the
    longest retry delay three times over (a retried event is back by then), and at least
    ``claim_idle_ms`` (30 s by default)."""
    longest = 0
    if config.max_attempts > 1:
        longest = min(config.backoff_max_ms, config.backoff_base_ms * 2 ** (config.max_attempts - 2))
    return max(config.claim_idle_ms, int(3.3 * longest))  # 3x, and the +10% jitter


@dataclass(frozen=True)
class _Sample:
    t: int
    processed: int
    dead: int
    retried: int

    @classmethod
    def of(cls, t: int, counters: dict[str, int]) -> _Sample:
        get = counters.get
        return cls(t, get("processed", 0), get("dead_lettered", 0), get("retried", 0))

    def member(self) -> str:
        return json.dumps([self.t, self.processed, self.dead, self.retried])

    @classmethod
    def parse(cls, member: str) -> _Sample | None:
        try:
            t, p, d, r = json.loads(member)
            return cls(int(t), int(p), int(d), int(r))
        except (ValueError, TypeError):
            return None


Counted = tuple[int, dict[str, int]]  # (ms, the counters then)


def failing(samples: list[Counted], now: Counted, window_ms: int) -> str | None:
    """Why the pipeline is failing, or ``None``: over the last ``window_ms`` (of which at least half
    is sampled), events were dead-lettered or retried and none was processed. ``samples``:
    ``(ms, counters)``; counters that went back (Redis lost them) give no verdict."""
    current = _Sample.of(*now)
    older = sorted((_Sample.of(t, c) for t, c in samples if current.t - window_ms <= t <= current.t),
                   key=lambda s: s.t)  # fmt: skip
    if not older or current.t - older[0].t < window_ms / 2:
        return None
    base = older[0]
    processed, dead = current.processed - base.processed, current.dead - base.dead
    retried = current.retried - base.retried
    if processed != 0 or min(dead, retried) < 0 or dead + retried == 0:
        return None
    return (
        f"in the last {(current.t - base.t) / 1000:.0f} s {dead} event(s) went to the dead-letter queue and "
        f"{retried} attempt(s) failed (retried later), and none was processed: the embedder, LLM or store "
        "may be down (`memoryd dlq list` shows the errors; `memoryd dlq replay` once it is fixed)"
    )


# -- all of it at once -----------------------------------------------------------------------------------
@dataclass
class Findings:
    """What :func:`inspect` found: ``problems`` make the pipeline degraded, ``warnings`` do not."""

    facts: RedisFacts | None = None
    eviction: str | None = None
    data_lost: DataLoss | None = None
    failing: str | None = None
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the three above, as messages


async def inspect(
    queue: EventQueue,
    config: PipelineConfig,
    watch: RedisWatch | None = None,
    *,
    counters: dict[str, int] | None = None,
    say: bool = True,
) -> Findings:
    """Read Redis's settings, the marker, a recorded loss and the progress samples (one round trip).

    With ``watch`` (a server or worker process): set the marker or record its loss, add a progress
    sample, and (``say``) log what is wrong once. Without (doctor, ``worker --check``): only read.
    ``counters``: the queue's, when the caller has read them already."""
    client = getattr(queue, "client", None)
    if client is None:  # not the Redis backend
        return Findings()
    keys, where, window = queue.keys, queue.where, progress_window_ms(config)
    with queue.errors("report its settings"):  # type: ignore[attr-defined]
        async with client.pipeline(transaction=False) as pipe:
            pipe.time()  # Redis's clock, the one heartbeats and retries are read on: no host's skew
            pipe.info("memory")
            pipe.info("persistence")
            pipe.info("server")
            pipe.config_get("save")
            pipe.get(keys.marker)
            pipe.hgetall(keys.data_lost)
            pipe.hgetall(keys.stats)
            pipe.zrange(keys.progress, 0, -1)  # kept to two windows; failing() reads the last one
            replies = await pipe.execute(raise_on_error=False)
        clock, memory, persistence, server, save, marker, lost, stats, raw = replies
        for reply in (clock, memory, marker, lost, stats, raw):
            if isinstance(reply, Exception):
                raise reply
        now = int(clock[0]) * 1000 + int(clock[1]) // 1000
        facts = RedisFacts.of(memory, persistence, server, save)
        if counters is None:
            counters = {k: _int(v) or 0 for k, v in (stats or {}).items()}
        sample = _Sample.of(now, counters)
        if watch is not None:
            from redis.exceptions import ResponseError

            try:  # writes: a Redis at maxmemory (noeviction) refuses them, and still reports the rest
                await watch.look(client, keys, marker, facts, config.result_ttl_s, now)
                if watch.marker != marker:  # set just now: a loss may have been recorded with it
                    lost = await client.hgetall(keys.data_lost)
                async with client.pipeline(transaction=False) as pipe:
                    pipe.zadd(keys.progress, {sample.member(): now})
                    pipe.zremrangebyscore(keys.progress, "-inf", now - 2 * window)
                    await pipe.execute()
            except ResponseError as exc:
                log.debug("async pipeline: the marker or a progress sample was not written: %s", exc)
    samples = [s for s in (_Sample.parse(m) for m in raw or []) if s is not None]
    found = Findings(
        facts=facts,
        eviction=eviction_problem(facts, where),
        data_lost=DataLoss.of(lost),
        failing=failing([(s.t, _counters(s)) for s in samples], (now, counters), window),
        warnings=setup_warnings(facts, where),
    )
    loss = found.data_lost.message(keys) if found.data_lost is not None else None
    found.problems = [p for p in (found.eviction, loss, found.failing) if p is not None]
    if watch is not None and say:
        _log(watch, found)
    return found


def _counters(s: _Sample) -> dict[str, int]:
    return {"processed": s.processed, "dead_lettered": s.dead, "retried": s.retried}


def _log(watch: RedisWatch, found: Findings) -> None:
    for problem in found.problems:
        if problem is not found.failing:  # a state, not an event: /health shows it while it lasts
            watch.once(logging.ERROR, problem)
    for warning in found.warnings:
        watch.once(logging.WARNING, warning)


async def check_at_start(queue: EventQueue, config: PipelineConfig, watch: RedisWatch) -> Findings:
    """What a server or worker does once its consumer group is set up: refuse a Redis that evicts
    (:class:`ConfigError` naming the setting), set the marker (or find it, or find it lost), and log
    the warnings (no persistence). :class:`StorageError` when Redis cannot be reached."""
    found = await inspect(queue, config, watch, say=False)
    if found.eviction is not None:  # said by the error, not logged besides
        raise ConfigError(found.eviction, field="pipeline.redis_url")
    _log(watch, found)
    return found


async def keep_watching(queue: EventQueue, config: PipelineConfig, watch: RedisWatch) -> None:
    """A worker's side task: :func:`inspect` every quarter of the progress window (at most 5 s), so
    that a loss of Redis's data is found and the progress sampled while workers run, and remove the
    consumers dead workers left in the group (:meth:`~.base.WorkQueue.prune_consumers`: those that
    hold nothing, their heartbeat run out). Redis being down is the worker's to report."""
    every_s = min(5.0, progress_window_ms(config) / 4000)
    task = asyncio.current_task()
    while True:
        with suppress(StorageError):
            await inspect(queue, config, watch)
        with suppress(StorageError):
            await queue.prune_consumers(config.claim_idle_ms)
        if task is not None and task.cancelling():  # a cancel the driver ate: stop all the same
            raise asyncio.CancelledError
        await asyncio.sleep(every_s)
