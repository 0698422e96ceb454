"""What the pipeline needs of its Redis, checked where someone will see it: eviction, persistence,
lost data, and whether events finish.

- **Eviction.** Queued events live only in Redis, so a Redis that evicts keys when it is full
  (a ``maxmemory-policy`` other than ``noeviction``, with a ``maxmemory``) drops events the
  server already answered 202 for. :func:`check_at_start` refuses it (:class:`ConfigError`
  naming the setting) when the server or a worker starts; found later (the policy changed at
  run time, or Redis was down at start) it makes the pipeline ``degraded`` and is logged as an
  ERROR once per process. An evicting policy with no ``maxmemory`` evicts nothing yet: a warning.
- **Full.** A ``noeviction`` Redis at ``maxmemory`` refuses every write (OOM) and still answers
  reads, so only a write tells: a server or worker's look writes a progress sample, and a refused
  one (OOM, or a read-only replica, MISCONF) is a problem until a write is taken again; a look
  that only reads (doctor, ``worker --check``) compares ``used_memory`` with ``maxmemory``.
  At 90% of ``maxmemory``: a warning.
- **Persistence.** Without the append-only file (``appendonly yes``) a restart loses what is
  queued (with RDB snapshots only, what was queued since the last one): a warning, logged once
  at start and shown in ``/health``'s ``warnings`` and by ``memoryd doctor``.
- **Lost data.** The marker key (:attr:`Keys.marker`) is set when the pipeline first sets up
  its keys. A process that saw it and finds it gone knows Redis lost its data (a restart with
  nothing persisted, a flush, eviction): it records the loss (:attr:`Keys.data_lost`, kept
  ``pipeline.result_ttl_s`` unless an operator deletes it to acknowledge it) and sets a new
  marker. While the record is there every process reports it: ``/health`` is ``degraded``,
  each process logs one ERROR, an event lookup's 404 says the event may have been lost.
  A Redis that comes back with an older copy of its data (a restart from an older snapshot or
  append-only file, a restore, a failover to a replica that lagged) keeps an old marker: each
  process also remembers the stream's :class:`Generation` (entries ever added, the last entry id,
  the counters) and what it added and was given since (:class:`Tally`), and a Redis that shows
  less (:func:`went_back`), or an older marker, is recorded the same way (``went_back`` says how).
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
from urllib.parse import urlsplit

from memoryd.config import PipelineConfig
from memoryd.errors import ConfigError, StorageError
from memoryd.pipeline.base import EventQueue
from memoryd.pipeline.keys import Keys
from memoryd.pipeline.redis_url import db_refused
from memoryd.wording import counted

__all__ = [
    "DataLoss",
    "Findings",
    "Generation",
    "RedisFacts",
    "RedisWatch",
    "Sight",
    "Tally",
    "check_at_start",
    "eviction_problem",
    "failing",
    "full_problem",
    "inspect",
    "is_full",
    "keep_watching",
    "memory_warning",
    "misconfigured",
    "progress_window_ms",
    "recorded_loss",
    "refusal",
    "setup_warnings",
    "went_back",
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
    used: int | None = None  # used_memory, less what Redis leaves out of its maxmemory check

    @classmethod
    def of(cls, memory: Any, persistence: Any, server: Any, save: Any) -> RedisFacts:
        memory = memory if isinstance(memory, dict) else {}
        persistence = persistence if isinstance(persistence, dict) else {}
        server = server if isinstance(server, dict) else {}
        aof = _int(persistence.get("aof_enabled"))
        points = save.get("save") if isinstance(save, dict) else None
        used = _int(memory.get("used_memory"))
        return cls(
            policy=str(memory["maxmemory_policy"]) if "maxmemory_policy" in memory else None,
            maxmemory=_int(memory.get("maxmemory")) or 0,
            aof=None if aof is None else aof == 1,
            save=None if points is None else str(points).strip(),
            uptime_s=_int(server.get("uptime_in_seconds")),
            # Replication and AOF buffers are not counted against maxmemory (INFO says how much).
            used=None if used is None else used - (_int(memory.get("mem_not_counted_for_evict")) or 0),
        )

    @property
    def full(self) -> bool:
        """Whether Redis counts itself over ``maxmemory``: with ``noeviction`` it refuses writes (OOM)."""
        return self.maxmemory > 0 and self.used is not None and self.used > self.maxmemory


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


def full_problem(facts: RedisFacts, where: str, config: PipelineConfig) -> str:
    """What a full Redis (``noeviction`` at ``maxmemory``: every write refused, OOM) means for adds."""
    how = "used memory over maxmemory"
    if facts.used is not None and facts.maxmemory > 0:
        how = f"used memory {_bytes(facts.used)} of maxmemory {_bytes(facts.maxmemory)}"
    if facts.policy is not None:
        how += f", maxmemory-policy {facts.policy}"
    return (
        f"Redis at {where} is full ({how}): it refuses new events "
        f"(OOM), so adds {_fallback(config)} until it has room (workers go on draining the queue). Raise "
        "maxmemory (`redis-cli CONFIG SET maxmemory <bytes>`; on a managed Redis, its parameter group), or "
        "free what fills it (`redis-cli --bigkeys`; dead letters: `memoryd dlq list`, `memoryd dlq purge`)"
    )


def _fallback(config: PipelineConfig) -> str:
    if config.on_unavailable == "sync":
        return "are processed synchronously (pipeline.on_unavailable = sync)"
    return "are refused with 503 (pipeline.on_unavailable = reject)"


def refusal(exc: BaseException, where: str, config: PipelineConfig) -> str | None:
    """Why Redis refused a write, when ``exc`` (a driver error, or the :class:`StorageError` the
    queue made of one) is Redis answering that it takes no writes now: full (OOM), a read-only
    replica, a snapshot it cannot write (MISCONF), too few replicas. ``None``: anything else (Redis
    did not answer, or refused that one call)."""
    try:
        from redis.exceptions import OutOfMemoryError, ReadOnlyError, ResponseError
    except ImportError:  # not the Redis backend
        return None
    cause = exc if isinstance(exc, ResponseError) else exc.__cause__
    if not isinstance(cause, ResponseError):
        return None
    if isinstance(cause, OutOfMemoryError):
        return full_problem(RedisFacts(None, 0, None, None, None), where, config)
    if isinstance(cause, ReadOnlyError):
        why = "is a read-only replica and refuses writes"
    elif str(cause).startswith("MISCONF"):
        why = "refuses writes, as it cannot save its snapshot (MISCONF)"
    elif str(cause).startswith("NOREPLICAS"):
        why = "refuses writes, as too few replicas answer (NOREPLICAS)"
    else:  # another refusal (a script's error, a key of another type): not Redis refusing writes
        return None
    return f"Redis at {where} {why} ({cause}): adds {_fallback(config)} until it takes writes again"


def refused_password(url: str, where: str, exc: BaseException, doing: str) -> str:
    """What the queue says when Redis refuses its client (``exc``, the driver's AuthenticationError:
    a wrong password in ``pipeline.redis_url``, or none where Redis requires one): a configuration
    error, not an outage (:func:`password_refused`). Redis's words name no password; the URL's
    (``url``) are never shown."""
    parts = urlsplit(url)
    if parts.password or "password=" in parts.query:
        what = f"refused the password in pipeline.redis_url (authentication refused: {exc})"
        fix = "set pipeline.redis_url's password (and user, for an ACL user) to the one Redis expects"
    else:
        what = "requires a password and pipeline.redis_url gives none (authentication refused)"
        fix = "put the password in pipeline.redis_url (redis://:PASSWORD@host:port/db)"
    return f"Redis at {where} {what} trying to {doing}: a configuration error, not an outage; {fix}"


def password_refused(exc: BaseException) -> bool:
    """Whether ``exc`` (a driver error, or the :class:`StorageError` the queue made of one) is Redis
    refusing the client's password: no wait mends that, unlike an outage."""
    try:
        from redis.exceptions import AuthenticationError
    except ImportError:  # not the Redis backend
        return False
    return isinstance(exc, AuthenticationError) or isinstance(exc.__cause__, AuthenticationError)


def misconfigured(exc: BaseException) -> bool:
    """Whether Redis refuses ``pipeline.redis_url`` itself (its password, or its database): a
    configuration error that a worker stops on, as no wait mends it."""
    return password_refused(exc) or db_refused(exc)


def is_full(message: str | None) -> bool:
    """Whether a problem :func:`full_problem` or :func:`refusal` wrote says Redis is full."""
    return message is not None and " is full (" in message


def memory_warning(facts: RedisFacts, where: str) -> str | None:
    """A ``noeviction`` Redis at 90% of ``maxmemory`` or more, not full yet."""
    if facts.policy != "noeviction" or facts.maxmemory <= 0 or facts.used is None or facts.full:
        return None
    share = facts.used / facts.maxmemory
    if share < 0.9:
        return None
    return (
        f"Redis at {where} is {share:.0%} full (used memory {_bytes(facts.used)} of maxmemory "
        f"{_bytes(facts.maxmemory)}): once full it refuses new events; give it room before then"
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
    """A recorded loss of Redis's data (the hash at :attr:`Keys.data_lost`). ``went_back``: Redis came
    back with an older copy of its data (what went back), rather than with none of it."""

    id: str
    lost_before: str
    detected_at: str
    detected_by: str
    went_back: str | None = None

    @classmethod
    def of(cls, data: Any) -> DataLoss | None:
        if not isinstance(data, dict) or not data.get("id"):
            return None
        return cls(
            str(data["id"]), str(data.get("lost_before", "?")), str(data.get("detected_at", "?")),
            str(data.get("detected_by", "?")), str(data["went_back"]) if data.get("went_back") else None,
        )  # fmt: skip

    def _what(self) -> str:
        if self.went_back is None:
            return "Redis lost its data"
        return (
            f"Redis lost its data back to an older copy of it ({self.went_back}: a restart from an older "
            "snapshot or append-only file, a restore, or a failover to a replica that lagged)"
        )

    def message(self, keys: Keys) -> str:
        some = "" if self.went_back is None else "some "
        return (
            f"{self._what()}: {some}events queued before {self.lost_before} that had not ended are lost, "
            f"with their status (found at {self.detected_at} by {self.detected_by}); send those adds again "
            f"(an event_id the store holds is never applied twice), then acknowledge with "
            f"`redis-cli DEL {keys.data_lost}`"
        )

    def not_found(self, event_id: str) -> str:
        """The 404 of an event lookup while this loss is recorded."""
        every = "every event" if self.went_back is None else "events"
        return (
            f"no event with id {event_id!r}: {self._what()}, and with it {every} queued before "
            f"{self.lost_before} that had not ended; if this one was queued before then it may be lost (send "
            "its add again with the same event_id: one the store holds is never applied twice), else it is "
            "unknown or ended longer ago than pipeline.result_ttl_s"
        )

    def to_dict(self) -> dict[str, str]:
        out = {"lost_before": self.lost_before, "detected_at": self.detected_at,
               "detected_by": self.detected_by}  # fmt: skip
        if self.went_back is not None:
            out["went_back"] = self.went_back
        return out


EntryId = tuple[int, int]


def _entry_id(value: Any) -> EntryId | None:
    try:
        ms, seq = str(value).split("-")
        return int(ms), int(seq)
    except ValueError:
        return None


def _show(entry: EntryId) -> str:
    return f"{entry[0]}-{entry[1]}"


@dataclass(frozen=True)
class Generation:
    """How far Redis had come, in figures that only grow while it keeps its data: how many entries
    were ever added to the stream (``entries-added``, Redis 7), its last entry id, and the counters.
    ``None``: not known (an older Redis; XINFO refused)."""

    added: int | None
    last_id: EntryId | None
    counters: dict[str, int]

    @classmethod
    def of(cls, stream: Any, stats: Any) -> Generation:
        counters = {str(k): n for k, v in (stats or {}).items() if (n := _int(v)) is not None}
        if isinstance(stream, dict):
            last = _entry_id(stream.get("last-generated-id"))
            return cls(_int(stream.get("entries-added")), last, counters)
        if isinstance(stream, Exception) and "no such key" in str(stream).lower():
            return cls(0, (0, 0), counters)  # no stream: none was ever added, or it is gone
        return cls(None, None, counters)


class Tally:
    """What one queue client added to the stream and was given from it, for :func:`went_back`: an
    entry id this process was given that Redis no longer reaches, or fewer entries added than this
    process added since the last look, mean Redis went back (a new entry leaps past the old ids at
    once: the count catches a restore the ids miss). Only what is known to be after the last look,
    and before this one, is counted (:meth:`take`, :meth:`settle`), so that a concurrent enqueue is
    never counted twice."""

    def __init__(self) -> None:
        self.started = 0  # enqueues sent, numbered
        self.floor = 0  # those numbered up to here may have been in the last look's figures
        self.since = 0  # enqueues numbered above the floor that added an entry
        self.newest: EntryId = (0, 0)  # the newest entry id this client was given since taken

    def begin(self) -> int:
        self.started += 1
        return self.started

    def added(self, number: int, stream_id: str | None) -> None:
        if number > self.floor:
            self.since += 1
        self.given([stream_id] if stream_id else [])

    def given(self, stream_ids: list[str]) -> None:
        for raw in stream_ids:
            entry = _entry_id(raw)
            if entry is not None and entry > self.newest:
                self.newest = entry

    def take(self) -> tuple[int, EntryId]:
        """Before a look is sent: what happened since the last look, all of it in Redis already."""
        newest, self.newest = self.newest, (0, 0)
        return self.since, newest

    def settle(self) -> None:
        """Once the look's figures are in: what is sent from now on comes after them."""
        self.floor, self.since = self.started, 0


def went_back(before: Generation, now: Generation, added: int = 0, newest: EntryId = (0, 0)) -> str | None:
    """How Redis shows less than it had (``before``, and ``added`` entries and the entry ``newest``
    this process knows of since), or ``None``."""
    if before.added is not None and now.added is not None and now.added < before.added + added:
        mine = f", {added} of them added by this process since it last looked" if added else ""
        had = counted(before.added + added, "entry", "entries")
        return f"the stream had {had} added{mine}, and now {now.added}"
    reached = max(before.last_id or (0, 0), newest)
    if now.last_id is not None and now.last_id < reached:
        return f"the stream's last entry id went back from {_show(reached)} to {_show(now.last_id)}"
    for name, n in sorted(before.counters.items()):
        if now.counters.get(name, 0) < n:
            return f"its counter {name!r} went back from {n} to {now.counters.get(name, 0)}"
    return None


def _marker_ms(marker: str) -> int | None:
    return _int(marker.split(":", 1)[0])


@dataclass(frozen=True)
class Sight:
    """What one look read: the marker, the generation, whether a loss is recorded, Redis's clock (ms)."""

    marker: str | None
    generation: Generation
    recorded: bool
    now: int


_LOST = ":lost"  # ends a marker set as a loss was recorded (so, even once acknowledged, not found again)

# A loss found by a process that still finds its marker: record it and set a new marker, unless
# the marker is not that one any more (another process did so first). KEYS: marker, data_lost.
# ARGV: the marker found, the new one, the record's TTL (s), then the record's fields and values.
_RECORD = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""


class RedisWatch:
    """One process's memory of its Redis: the marker and the generation it last saw, and what it has
    logged once."""

    def __init__(self, who: str, *, then: str = "") -> None:
        self.who = who
        self.then = then  # what follows when Redis takes writes again ("; adds are queued")
        self.marker: str | None = None
        self.marker_seen_ms: int | None = None
        self.seen: Generation | None = None  # at the last look, under self.marker
        self._owed = 0  # entries this process added since self.seen, not yet checked
        self._newest: EntryId = (0, 0)
        self._logged: set[str] = set()
        self.lock = asyncio.Lock()  # one look at a time: each compares with the one before

    def once(self, level: int, text: str, key: str | None = None) -> None:
        """Log ``text`` once in this process (``key``: once per key)."""
        if (key or text) not in self._logged:
            self._logged.add(key or text)
            log.log(level, "async pipeline: %s", text)

    def refused_writes(self, text: str) -> None:
        """Log (an ERROR) that Redis refuses writes: once, until it takes one again."""
        self.once(logging.ERROR, text, key="writes")

    def took_writes(self, where: str) -> None:
        """Redis took a write: if it was said to refuse them, say it takes them again."""
        if "writes" in self._logged:
            self._logged.discard("writes")
            log.info("async pipeline: Redis at %s takes writes again%s", where, self.then)

    async def look(
        self, client: Any, keys: Keys, sight: Sight, facts: RedisFacts, ttl_s: int,
        added: int = 0, newest: EntryId = (0, 0),
    ) -> None:  # fmt: skip
        """Given what a look just read (``added`` and ``newest``: what this process added and was
        given since the last look): set the marker if missing, and record a loss if this process
        had seen it before, or if Redis shows less than this process saw (it went back)."""
        self._owed += added
        self._newest = max(self._newest, newest)
        found, now = sight.marker, sight.now
        went = self._went_back(sight)
        if found is None:
            fresh = f"{now}:{uuid.uuid4().hex}" + (_LOST if self.marker is not None else "")
            if await client.set(keys.marker, fresh, nx=True):
                if self.marker is not None:  # it was there, and is gone
                    await client.eval(_RECORD, 2, keys.marker, keys.data_lost, fresh, fresh, ttl_s,
                                      *self._record(facts, now, None))  # fmt: skip
                found = fresh
            else:  # another process set it a moment ago (and recorded the loss, if it was one)
                found = await client.get(keys.marker)
        elif went is not None:
            fresh = f"{now}:{uuid.uuid4().hex}{_LOST}"
            record = self._record(facts, now, went)
            if await client.eval(_RECORD, 2, keys.marker, keys.data_lost, found, fresh, ttl_s, *record):
                found = fresh
            else:  # another process recorded it a moment ago
                found = await client.get(keys.marker)
        self.marker, self.marker_seen_ms, self.seen = found, now, sight.generation
        self._owed, self._newest = 0, (0, 0)

    def _went_back(self, sight: Sight) -> str | None:
        """How Redis shows less than this process saw, when it still holds a marker (a missing one
        is :meth:`look`'s other case)."""
        if sight.marker is None or self.marker is None or self.seen is None:
            return None
        if sight.marker == self.marker:
            return went_back(self.seen, sight.generation, self._owed, self._newest)
        if sight.recorded or sight.marker.endswith(_LOST):  # set as another process recorded a loss
            return None
        was, found = _marker_ms(self.marker), _marker_ms(sight.marker)
        if was is not None and found is not None and found < was:  # a copy from before the last one
            return "its marker is older than the one this process saw last"
        # A new marker and no loss recorded: set by a process that never saw the old one (Redis came
        # back empty, or older, before any process that knew it looked).
        return went_back(self.seen, sight.generation, self._owed, self._newest)

    def _record(self, facts: RedisFacts, now: int, went: str | None) -> list[str]:
        # Redis restarted since the marker was last seen: what was queued before the restart is lost;
        # else (a flush, eviction, a failover) all that was queued before now.
        lost_before = now
        if facts.uptime_s is not None and self.marker_seen_ms is not None:
            started = now - facts.uptime_s * 1000
            if started > self.marker_seen_ms:
                lost_before = started
        record = {"id": uuid.uuid4().hex, "lost_before": _iso(lost_before), "detected_at": _iso(now),
                  "detected_by": self.who}  # fmt: skip
        if went is not None:
            record["went_back"] = went
        return [item for pair in record.items() for item in pair]


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
        f"in the last {(current.t - base.t) / 1000:.0f} s {counted(dead, 'event', 'events')} went to the "
        f"dead-letter queue and {counted(retried, 'attempt', 'attempts')} failed (retried later), and "
        "none was processed: the embedder, LLM or store "
        "may be down (`memoryd dlq list` shows the errors; `memoryd dlq replay` once it is fixed)"
    )


# -- all of it at once -----------------------------------------------------------------------------------
@dataclass
class Findings:
    """What :func:`inspect` found: ``problems`` make the pipeline degraded, ``warnings`` do not.

    ``full``: Redis is at ``maxmemory`` and refuses writes (OOM); ``refused``: it refuses them for
    another reason (a read-only replica, MISCONF). With a watch, a write tells (``wrote``: one was
    taken, so neither holds); without one, ``full`` is read from ``INFO memory``."""

    facts: RedisFacts | None = None
    eviction: str | None = None
    full: str | None = None
    refused: str | None = None
    data_lost: DataLoss | None = None
    failing: str | None = None
    wrote: bool = False
    nearly_full: str | None = None  # one of the warnings
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the five above, as messages


async def inspect(
    queue: EventQueue,
    config: PipelineConfig,
    watch: RedisWatch | None = None,
    *,
    counters: dict[str, int] | None = None,
    say: bool = True,
) -> Findings:
    """Read Redis's settings, the marker, a recorded loss, the stream's generation and the progress
    samples (one round trip).

    With ``watch`` (a server or worker process): set the marker, or record a loss (the marker gone,
    or Redis showing less than this process saw), add a progress sample (a write: whether Redis takes
    writes), and (``say``) log what is wrong once. Without (doctor, ``worker --check``): only read.
    ``counters``: the queue's, when the caller has read them already."""
    if getattr(queue, "client", None) is None:  # not the Redis backend
        return Findings()
    if watch is None:
        return await _inspect(queue, config, None, counters, say)
    async with watch.lock:
        return await _inspect(queue, config, watch, counters, say)


async def _inspect(
    queue: EventQueue, config: PipelineConfig, watch: RedisWatch | None, counters: dict[str, int] | None,
    say: bool,
) -> Findings:  # fmt: skip
    client: Any = getattr(queue, "client", None)
    keys, where, window = queue.keys, queue.where, progress_window_ms(config)
    tally: Tally | None = getattr(queue, "tally", None) if watch is not None else None
    added, newest = tally.take() if tally is not None else (0, (0, 0))
    wrote, refused = False, None
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
            pipe.xinfo_stream(keys.stream)  # the generation: an error when there is no stream
            replies = await pipe.execute(raise_on_error=False)
        if tally is not None:
            tally.settle()
        clock, memory, persistence, server, save, marker, lost, stats, raw, stream = replies
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

            sight = Sight(marker, Generation.of(stream, stats), bool(lost), now)
            try:  # writes: a Redis at maxmemory (noeviction) refuses them, and still reports the rest
                await watch.look(client, keys, sight, facts, config.result_ttl_s, added, newest)
                if watch.marker != marker:  # set just now: a loss may have been recorded with it
                    lost = await client.hgetall(keys.data_lost)
                async with client.pipeline(transaction=False) as pipe:
                    pipe.zadd(keys.progress, {sample.member(): now})
                    pipe.zremrangebyscore(keys.progress, "-inf", now - 2 * window)
                    await pipe.execute()
                wrote = True
            except ResponseError as exc:
                log.debug("async pipeline: the marker or a progress sample was not written: %s", exc)
                refused = refusal(exc, where, config)
    samples = [s for s in (_Sample.parse(m) for m in raw or []) if s is not None]
    full = None
    if is_full(refused) or (watch is None and facts.full):  # with a watch, only a refused write tells
        full, refused = full_problem(facts, where, config), None
    found = Findings(
        facts=facts,
        eviction=eviction_problem(facts, where),
        full=full,
        refused=refused,
        data_lost=DataLoss.of(lost),
        failing=failing([(s.t, _counters(s)) for s in samples], (now, counters), window),
        wrote=wrote,
        warnings=setup_warnings(facts, where),
    )
    if (nearly := memory_warning(facts, where)) is not None and not full:
        found.nearly_full = nearly
        found.warnings.append(nearly)
    loss = found.data_lost.message(keys) if found.data_lost is not None else None
    found.problems = [p for p in (found.eviction, full, refused, loss, found.failing) if p is not None]
    if watch is not None and say:
        _log(watch, found, where)
    return found


def _counters(s: _Sample) -> dict[str, int]:
    return {"processed": s.processed, "dead_lettered": s.dead, "retried": s.retried}


def _log(watch: RedisWatch, found: Findings, where: str) -> None:
    for problem in found.problems:
        if problem in (found.full, found.refused):
            watch.refused_writes(problem)
        elif problem is not found.failing:  # a state, not an event: /health shows it while it lasts
            watch.once(logging.ERROR, problem)
    if found.wrote:
        watch.took_writes(where)
    for warning in found.warnings:  # how full Redis is changes from look to look: said once
        watch.once(logging.WARNING, warning, key="nearly full" if warning is found.nearly_full else None)


async def check_at_start(queue: EventQueue, config: PipelineConfig, watch: RedisWatch) -> Findings:
    """What a server or worker does once its consumer group is set up: refuse a Redis that evicts
    (:class:`ConfigError` naming the setting), set the marker (or find it, or find it lost), and log
    the warnings (no persistence). :class:`StorageError` when Redis cannot be reached."""
    found = await inspect(queue, config, watch, say=False)
    if found.eviction is not None:  # said by the error, not logged besides
        raise ConfigError(found.eviction, field="pipeline.redis_url")
    _log(watch, found, queue.where)
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
