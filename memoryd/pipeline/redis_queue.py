"""The Redis Streams backend of the event queue (``pipeline.backend = "redis"``, extra ``[redis]``).

Producers ``XADD`` events to the stream (``chat_log``); workers read them in a
consumer group with ``XREADGROUP``, reclaim what dead workers left pending with
``XAUTOCLAIM``, and record each outcome with one Lua script that also
acknowledges the entry (:mod:`memoryd.pipeline.scripts`). Failed events wait in
a sorted set until their retry time; hopeless ones go to ``chat_log:dlq``.

This module (with :mod:`.redis_erase`, its erasure) imports the ``redis`` client. Its errors are
translated here, at the boundary, into :class:`~memoryd.errors.StorageError`
(the URL's password never appears in a message).
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import AuthenticationError, RedisError, ResponseError

from memoryd.config import DEFAULT_TENANT, PipelineConfig
from memoryd.errors import ConfigError, InvalidInputError, StorageError
from memoryd.pipeline import scripts
from memoryd.pipeline.base import (
    Begin,
    DeadLetter,
    Delivery,
    Enqueued,
    EventRecord,
    Outcome,
    QueueStats,
    Replayed,
    Staged,
    is_entry_id,
)
from memoryd.pipeline.events import EventStatus, PipelineEvent, readable_event_id
from memoryd.pipeline.keys import Keys
from memoryd.pipeline.redis_consumers import dead, prune
from memoryd.pipeline.redis_dlq import purge_letters
from memoryd.pipeline.redis_erase import Eraser
from memoryd.pipeline.redis_health import Tally, refused_password
from memoryd.pipeline.redis_url import check_db, db_refused, display_url, refused_db, url_fault

__all__ = ["DLQ_FIELDS", "RedisQueue"]

log = logging.getLogger("memoryd.pipeline")

# Fields a dead letter adds to the event's own.
DLQ_FIELDS = ("dlq_error", "dlq_attempts", "dlq_at", "dlq_stream_id", "dlq_consumer")
_COUNTERS = (
    "enqueued", "duplicates_enqueued", "processed", "duplicates", "retried", "dead_lettered", "replayed",
)  # fmt: skip
_STALE_WORKER_MS = 3_600_000  # heartbeats older than this are forgotten


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _flat(fields: dict[str, str]) -> list[str]:
    return [item for pair in fields.items() for item in pair]


def _record(data: dict[str, str]) -> EventRecord | None:
    if not data:
        return None
    try:
        status = EventStatus(data.get("status", "queued"))
    except ValueError:
        status = EventStatus.QUEUED

    def loads(name: str) -> dict[str, Any] | None:
        raw = data.get(name)
        if not raw:
            return None
        value = json.loads(raw)
        return value if isinstance(value, dict) else {"value": value}

    attempts = data.get("attempts", "0")
    return EventRecord(
        event_id=data.get("event_id", ""),
        status=status,
        attempts=int(attempts) if attempts.isdigit() else 0,
        source=data.get("source"),
        created_at=data.get("created_at"),
        updated_at=data.get("updated_at"),
        finished_at=data.get("finished_at"),
        stream_id=data.get("stream_id"),
        consumer=data.get("consumer"),
        result=loads("result"),
        error=loads("error"),
        retry_at=data.get("retry_at"),
        dlq_id=data.get("dlq_id"),
        owner=data.get("owner") or None,
        digest=data.get("digest") or None,
    )


def _alive(now: Any, beats: list[tuple[str, float]]) -> list[str]:
    """The heartbeats lasting past ``now`` (a ``TIME`` reply): heartbeats are few (those older than
    an hour are dropped), so they are all read and compared here, in one round trip with the time."""
    now_ms = int(now[0]) * 1000 + int(now[1]) // 1000
    return [name for name, until in beats if until >= now_ms]


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2]))


class RedisQueue:
    """One connection pool to one Redis, serving all three queue roles (see :mod:`.base`).

    ``blocking=True`` (workers) lets a read wait ``block_ms`` for new events.
    """

    def __init__(self, config: PipelineConfig, *, blocking: bool = False) -> None:
        self.config = config
        self.keys = Keys.of(config)
        url = config.redis_url.get_secret_value()
        self.where = display_url(url)
        read_timeout = config.timeout_s + (config.block_ms / 1000 if blocking else 0.0)
        try:
            check_db(url)
            self.client: Any = aioredis.Redis.from_url(
                url,
                decode_responses=True,
                # Bytes that are not UTF-8 (an external producer's entry) decode to lone surrogates
                # instead of failing the whole reply: the worker then dead-letters that one event,
                # and writing the entry to the DLQ encodes it back to its own bytes.
                encoding_errors="surrogateescape",
                socket_timeout=read_timeout,
                socket_connect_timeout=config.timeout_s,
                # One quick retry on a fresh connection: a pooled one may predate a Redis restart.
                retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), 1),
            )
        except ValueError:  # redis-py's message may quote a piece of the password: not shown
            fault = url_fault(url)
            msg = (
                f"pipeline.redis_url is not a valid Redis URL{': ' + fault if fault else ''} "
                "(redis://[[user]:password@]host:port[/db], rediss://... or unix:///path; percent-encode "
                "/, ?, # and @ in the password)"
            )
            raise ConfigError(msg, field="pipeline.redis_url") from None
        self._enqueue = self.client.register_script(scripts.ENQUEUE)
        self._replay = self.client.register_script(scripts.REPLAY)
        self._purge = self.client.register_script(scripts.PURGE)
        self._eraser = Eraser(self.client, self.keys, self.errors)
        self._oom_flags: bool | None = None  # whether the server runs flagged scripts (Redis >= 7)
        self._begin = self._worker_script(scripts.BEGIN)
        self._finish = self._worker_script(scripts.FINISH)
        self._move = self._worker_script(scripts.MOVE_RETRIES)
        self._keepalive = self._worker_script(scripts.KEEPALIVE)
        self._hold = self._worker_script(scripts.HOLD)
        self._let_go = self._worker_script(scripts.LET_GO)
        self._heartbeat = self._worker_script(scripts.HEARTBEAT)
        self._leave = self._worker_script(scripts.LEAVE)
        self._claim_cursor = "0-0"
        # This client's (one per process): it claims a worker's name and goes into every lock the
        # worker takes, so two processes given one name never both hold a lock (see scripts.HEARTBEAT).
        self.token = uuid.uuid4().hex
        self.tally = Tally()  # what this client added and was given: a Redis that went back shows less

    def _worker_script(self, text: str) -> Any:
        """A worker's script, run flagged ``allow-oom`` where the server supports it (see
        :func:`scripts.allowing_oom`): a worker must drain the queue that filled Redis."""
        plain = self.client.register_script(text)
        flagged = self.client.register_script(scripts.allowing_oom(text))

        async def run(*, keys: list[str], args: list[Any]) -> Any:
            return await (flagged if await self._flags_run() else plain)(keys=keys, args=args)

        return run

    async def _flags_run(self) -> bool:
        """Whether the server reads script flags (Redis 7 and later); asked once."""
        if self._oom_flags is None:
            try:
                version = str((await self.client.info("server")).get("redis_version", "0"))
            except ResponseError:  # INFO renamed away: flags are not risked
                version = "0"
            major = version.split(".")[0]
            self._oom_flags = major.isdigit() and int(major) >= 7
        return self._oom_flags

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Translate the driver's errors into memoryd's, naming the step and the server (also
        around the calls :mod:`memoryd.pipeline.redis_health` makes on :attr:`client`)."""
        try:
            yield
        except ResponseError as exc:
            if db_refused(exc):  # SELECT of the URL's database, as redis-py connects
                db = self.client.connection_pool.connection_kwargs.get("db", "?")
                raise StorageError(refused_db(self.where, db, doing), backend="redis") from exc
            raise StorageError(f"Redis at {self.where} refused to {doing}: {exc}", backend="redis") from exc
        except AuthenticationError as exc:  # before RedisError: redis-py counts it a connection error
            msg = refused_password(self.config.redis_url.get_secret_value(), self.where, exc, doing)
            raise StorageError(msg, backend="redis") from exc
        except (RedisError, OSError) as exc:
            msg = f"Redis at {self.where} is unreachable ({type(exc).__name__}: {exc}) trying to {doing}"
            raise StorageError(msg, backend="redis") from exc

    # -- producer ------------------------------------------------------------
    def _enqueue_args(self, event: PipelineEvent, also: tuple[str, ...] = ()) -> tuple[list[str], list[Any]]:
        fields = event.to_fields()
        keys = [self.keys.status(event.event_id), self.keys.stream, self.keys.stats]
        flat = json.dumps(_flat(fields), ensure_ascii=False)
        owner = event.payload.user_id or ""
        digest = event.payload.digest()
        nonce = uuid.uuid4().hex  # this submission's (see scripts.ENQUEUE)
        also_digests = " ".join(also)  # the add's other digests (see scripts.ENQUEUE)
        args = [fields["created_at"], event.source, event.event_id, flat, owner, digest, nonce, also_digests]
        return keys, args

    @staticmethod
    def _enqueued(event_id: str, reply: list[Any]) -> Enqueued:
        created, value = reply
        if int(created) == 1:
            return Enqueued(event_id, True, str(value))
        return Enqueued(event_id, False, None, _record(_pairs(value)))

    async def enqueue(self, event: PipelineEvent, also: tuple[str, ...] = ()) -> Enqueued:
        keys, args = self._enqueue_args(event, also)
        number = self.tally.begin()
        with self.errors("enqueue an event"):
            reply = await self._enqueue(keys=keys, args=args)
        enqueued = self._enqueued(event.event_id, reply)
        if enqueued.created:
            self.tally.added(number, enqueued.stream_id)
        return enqueued

    async def enqueue_many(self, events: list[PipelineEvent]) -> list[Enqueued]:
        """Enqueue in one round trip (each event still atomic and idempotent on its own)."""
        if not events:
            return []
        numbers = [self.tally.begin() for _ in events]
        with self.errors("enqueue events"):
            async with self.client.pipeline(transaction=False) as pipe:
                for event in events:
                    keys, args = self._enqueue_args(event)
                    await self._enqueue(keys=keys, args=args, client=pipe)
                replies = await pipe.execute()
        out = [self._enqueued(e.event_id, r) for e, r in zip(events, replies)]
        for number, enqueued in zip(numbers, out):
            if enqueued.created:
                self.tally.added(number, enqueued.stream_id)
        return out

    async def status(self, event_id: str) -> EventRecord | None:
        with self.errors("read an event's status"):
            data = await self.client.hgetall(self.keys.status(event_id))
        return _record(data)

    async def forget_user(self, tenant: str, user_id: str | None, between: Staged | None = None) -> int:
        """Read the deletion's time, run ``between`` with it (marking the deletion once the store's
        mark is committed), then erase the user's (``None``: the tenant's) events in steps of
        bounded work, so that Redis keeps answering everyone else (:mod:`.redis_erase`)."""
        return await self._eraser.erase(tenant, user_id, between)

    async def time_ms(self) -> int:
        with self.errors("read the server's clock"):
            return await scripts.clock_ms(self.client)

    async def forgotten(
        self, users: list[tuple[str, str | None]]
    ) -> dict[tuple[str, str | None], int]:
        if not users:
            return {}
        tenants = sorted({t for t, _ in users})
        named = [(t, u) for t, u in users if u is not None]
        keys = [self.keys.forgotten(t, None) for t in tenants] + [self.keys.forgotten(t, u) for t, u in named]
        with self.errors("read users' deletions"):
            found = await self.client.mget(keys)  # one round trip for the resets and the users
        resets = dict(zip(tenants, found[: len(tenants)], strict=True))
        marks: dict[tuple[str, str | None], str | None] = dict(zip(named, found[len(tenants) :], strict=True))
        out: dict[tuple[str, str | None], int] = {}
        for tenant, user in users:
            times = [int(m) for m in (marks.get((tenant, user)), resets[tenant]) if m is not None]
            if times:
                out[(tenant, user)] = max(times)
        return out

    async def ping(self) -> None:
        with self.errors("answer PING"):
            await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()

    async def stats(self) -> QueueStats:
        with self.errors("report the queue's state"):
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.xlen(self.keys.stream)
                pipe.xlen(self.keys.dlq)
                pipe.zcard(self.keys.retry)
                pipe.hgetall(self.keys.stats)
                pipe.xinfo_groups(self.keys.stream)
                pipe.time()
                pipe.zrange(self.keys.workers, 0, -1, withscores=True)
                pipe.xinfo_consumers(self.keys.stream, self.config.group)
                replies = await pipe.execute(raise_on_error=False)
            length, dlq, retry, counters, groups, now, beats, members = replies
            for value in (length, dlq, retry, counters, now, beats):
                if isinstance(value, Exception):
                    raise value
            alive = _alive(now, beats)
            workers: list[dict[str, Any]] = []
            if alive:
                raws = await self.client.hmget(self.keys.workers_info, alive)
                workers = self._of_group(raws)
        group = self._group_info(groups)
        lag, pending = group.get("lag"), int(group.get("pending", 0))
        if "name" not in group:  # no group (yet): made reading from the start, nothing was delivered
            lag = int(length)
        elif lag is None and self.config.delete_acked and "pending" in group:
            # Redis gives no lag once workers acknowledge (and delete) entries out of order; with
            # acknowledged entries deleted, the stream holds only what is undelivered or pending.
            lag = max(0, int(length) - pending)
        elif lag is not None:  # entries deleted before delivery (an erasure) still count in Redis's lag
            lag = min(int(lag), max(0, int(length) - pending))
        return QueueStats(
            stream_length=int(length),
            lag=lag,
            pending=pending,
            dlq_size=int(dlq),
            retry_scheduled=int(retry),
            consumers=int(group.get("consumers", 0)),
            dead_consumers=dead(members, self.config.group, alive),
            counters={name: int(counters.get(name, 0)) for name in _COUNTERS},
            workers=workers,
        )

    def _group_info(self, groups: Any) -> dict[str, Any]:
        if isinstance(groups, Exception):  # no stream yet
            return {}
        for group in groups or []:
            if group.get("name") == self.config.group:
                return dict(group)
        return {}

    # -- worker ----------------------------------------------------------------
    async def ensure_group(self) -> None:
        """Create the consumer group (reading from the start of the stream) if it is missing. Looked
        for first: Redis over ``maxmemory`` refuses ``XGROUP CREATE`` even for a group that exists
        (with OOM, not BUSYGROUP), and a worker must start there to drain the queue."""
        with self.errors("create the consumer group"):
            try:
                groups = await self.client.xinfo_groups(self.keys.stream)
            except ResponseError:  # no stream yet
                groups = []
            if any(g.get("name") == self.config.group for g in groups):
                return
            try:
                await self.client.xgroup_create(self.keys.stream, self.config.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def _grouped(self, doing: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``call()``, its errors translated as :meth:`errors` does. Every step that needs the
        consumer group runs through here (reads, re-reads of pending entries, reclaims, leases,
        pruning): if Redis lost the group (``NOGROUP``: a restart with nothing persisted, a flush),
        it is recreated (:meth:`ensure_group`, from the start of what the stream holds now) and
        ``call()`` runs once more. Recording outcomes needs no such step: ``XACK`` of a group that
        is gone answers 0 (nothing to acknowledge), and FINISH reads ``XPENDING`` with ``pcall``."""
        with self.errors(doing):
            try:
                return await call()
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
        log.warning(
            "async pipeline: Redis at %s lost the consumer group %s of %s (a restart with nothing persisted, "
            "or a flush): recreating it, reading from the start of the stream", self.where,
            self.config.group, self.keys.stream,
        )  # fmt: skip
        self._claim_cursor = "0-0"  # a position in the group that is gone
        await self.ensure_group()
        with self.errors(doing):
            return await call()

    async def _delivery_counts(self, consumer: str, ids: list[str]) -> dict[str, int]:
        if not ids:
            return {}

        async def call() -> Any:
            return await self.client.xpending_range(
                self.keys.stream, self.config.group, min=ids[0], max=ids[-1], count=len(ids) + 100,
                consumername=consumer,
            )  # fmt: skip

        rows = await self._grouped("read events", call)
        return {row["message_id"]: int(row["times_delivered"]) for row in rows}

    async def read(
        self, consumer: str, count: int, block_ms: int | None, *, own: bool = False, recount: bool = True
    ) -> list[Delivery]:
        stream = self.keys.stream
        if own and not recount:
            return await self._pending_of(consumer, count)

        async def call() -> Any:
            block = None if own or not block_ms else block_ms
            return await self.client.xreadgroup(
                self.config.group, consumer, {stream: "0" if own else ">"}, count=count, block=block
            )

        entries = _entries(await self._grouped("read events", call))
        self.tally.given([i for i, _ in entries])
        counts = await self._delivery_counts(consumer, [i for i, _ in entries]) if own else {}
        return [Delivery(i, f or {}, counts.get(i, 1)) for i, f in entries]

    async def _pending_of(self, consumer: str, count: int) -> list[Delivery]:
        """``consumer``'s pending entries read without counting a delivery (``XPENDING`` and
        ``XRANGE``, unlike ``XREADGROUP 0``): an entry deleted meanwhile has no fields, as
        ``XREADGROUP`` gives it."""
        stream, group = self.keys.stream, self.config.group

        async def call() -> tuple[Any, list[str], list[Any]]:
            rows = await self.client.xpending_range(stream, group, min="-", max="+", count=count,
                                                    consumername=consumer)  # fmt: skip
            ids = [str(row["message_id"]) for row in rows]
            async with self.client.pipeline(transaction=False) as pipe:
                for i in ids:
                    pipe.xrange(stream, min=i, max=i, count=1)
                found = await pipe.execute() if ids else []
            return rows, ids, found

        rows, ids, found = await self._grouped("read events", call)
        self.tally.given(ids)
        out: list[Delivery] = []
        for row, i, entry in zip(rows, ids, found, strict=True):
            fields = entry[0][1] if entry else {}
            out.append(Delivery(i, fields or {}, int(row["times_delivered"])))
        return out

    async def claim_idle(self, consumer: str, min_idle_ms: int, count: int) -> list[Delivery]:
        async def call() -> Any:
            return await self.client.xautoclaim(
                self.keys.stream, self.config.group, consumer, min_idle_ms, start_id=self._claim_cursor,
                count=count,
            )  # fmt: skip

        reply = await self._grouped("reclaim idle events", call)
        self._claim_cursor = str(reply[0])
        entries = [(i, f) for i, f in reply[1] if i is not None]
        self.tally.given([i for i, _ in entries])
        counts = await self._delivery_counts(consumer, [i for i, _ in entries])
        return [Delivery(i, f or {}, counts.get(i, 1)) for i, f in entries]

    async def move_due_retries(self, limit: int) -> int:
        """Put due retries back on the stream (one that is no field list goes to the DLQ: see
        :data:`scripts.MOVE_RETRIES`); how many left the retry set."""
        k = self.keys
        args = [limit, k.status_prefix, _now_iso(), self.config.result_ttl_s * 1000]
        with self.errors("move due retries"):
            moved = await self._move(keys=[k.retry, k.stream, k.dlq, k.stats], args=args)
        return int(moved)

    async def begin(
        self, items: list[tuple[str, int, str, str]], consumer: str, lease_ms: int
    ) -> list[Begin]:
        if not items:
            return []
        keys = [key for item in items for key in (self.keys.status(item[0]), self.keys.lock(item[0]))]
        args: list[Any] = [consumer, lease_ms, _now_iso(), self._holder(consumer)]
        args += [value for item in items for value in item]
        with self.errors("lock events"):
            replies = await self._begin(keys=keys, args=args)
        known = {s.value for s in EventStatus}
        return [Begin(state, EventStatus(before) if before in known else None) for state, before in replies]

    async def finish(self, outcomes: list[Outcome], consumer: str, ttl_s: int) -> None:
        """Record a batch's outcomes and acknowledge their entries (one script call; each
        outcome atomic on its own)."""
        if not outcomes:
            return
        now = _now_iso()
        k = self.keys
        clock = 0  # Redis's (ms): retries are due on it, as MOVE_RETRIES reads them
        if any(o.kind == "retry" for o in outcomes):
            clock = await self.time_ms()
        keys = [k.stream, k.stats, k.retry, k.dlq]
        args: list[Any] = [
            self.config.group,
            consumer,
            now,
            ttl_s * 1000,
            "1" if self.config.delete_acked else "0",
            self._holder(consumer),
        ]
        for o in outcomes:
            event_id = o.event_id or "-"
            event = _event_of(o)
            marks = self._marks(event)
            keys += [k.status(event_id), k.lock(event_id), *marks]
            body = self._finish_args(o, consumer, now, clock)
            body["at"] = str(event.enqueued_at_ms) if event is not None else ""
            args.append(json.dumps(body, ensure_ascii=False))
        with self.errors("record event outcomes"):
            await self._finish(keys=keys, args=args)

    def _marks(self, event: PipelineEvent | None) -> list[str]:
        """The deletion marks FINISH compares an event with: its user's and its tenant's reset."""
        tenant = (event.payload.tenant if event is not None else None) or DEFAULT_TENANT
        reset = self.keys.forgotten(tenant, None)
        user = event.payload.user_id if event is not None else None
        return [self.keys.forgotten(tenant, user) if user is not None else reset, reset]

    @staticmethod
    def _finish_args(o: Outcome, consumer: str, now: str, clock: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": o.kind,
            "id": o.delivery.stream_id,
            "attempts": str(o.attempts),
            "event": "1" if o.event_id else "0",
        }
        error = json.dumps(o.error or {}, ensure_ascii=False)
        if o.kind == "done":
            body["result"] = json.dumps(o.result or {}, ensure_ascii=False)
        elif o.kind == "retry":
            assert o.event is not None
            due = clock + o.delay_ms
            member = json.dumps(_flat(o.event.to_fields()), ensure_ascii=False)
            # Waiting on the store's outage (no attempt of its failed): queued, not failed.
            waits = bool((o.error or {}).get("outages"))
            status = EventStatus.QUEUED if waits else EventStatus.FAILED
            body.update(error=error, due=str(due), retry_at=_iso(due), member=member, status=status.value)
        elif o.kind == "dead":
            meta = {
                "dlq_error": error,
                "dlq_attempts": str(o.attempts),
                "dlq_at": now,
                "dlq_stream_id": o.delivery.stream_id,
                "dlq_consumer": consumer,
            }
            fields = {key: v for key, v in o.delivery.fields.items() if key not in DLQ_FIELDS}
            body.update(error=error, fields=_flat({**fields, **meta}))
        return body

    async def keepalive(
        self, consumer: str, stream_ids: list[str], event_ids: list[str], lease_ms: int
    ) -> None:
        """Reset the idle time of entries still being processed, and extend their locks: those whose
        lock is still this consumer's (``stream_ids`` and ``event_ids`` pair up)."""
        if not stream_ids:
            return
        keys = [self.keys.stream, *(self.keys.lock(e) for e in event_ids)]
        args = [consumer, lease_ms, self.config.group, self._holder(consumer), *stream_ids]
        await self._grouped("extend leases", lambda: self._keepalive(keys=keys, args=args))

    async def hold_owners(
        self, owners: list[str], consumer: str, lease_ms: int
    ) -> list[bool]:
        """Take (or extend) the lock of each owner for ``consumer``: whether it holds each now."""
        if not owners:
            return []
        keys, holder = [self.keys.owner(o) for o in owners], self._holder(consumer)
        with self.errors("lock owners"):
            replies = await self._hold(keys=keys, args=[holder, lease_ms])
        return [bool(r) for r in replies]

    async def release_owners(self, owners: list[str], consumer: str) -> None:
        if not owners:
            return
        with self.errors("unlock owners"):
            await self._let_go(keys=[self.keys.owner(o) for o in owners], args=[self._holder(consumer)])

    def _member(self, consumer: str) -> str:
        """A worker's heartbeat entry: its group's and its name (two groups may use one name)."""
        return f"{self.config.group}\x1f{consumer}"

    def _holder(self, consumer: str) -> str:
        """The value of the locks a worker takes: its name and this client's token."""
        return f"{consumer}/{self.token}"

    def _claim(self, consumer: str) -> str:
        """The key of a worker's claim on its name in its group (a string: its process's token,
        expiring with its heartbeat; see :mod:`memoryd.pipeline.keys`)."""
        return self.keys.worker_claim(self._member(consumer))

    async def heartbeat(self, consumer: str, info: dict[str, Any], ttl_ms: int) -> int:
        """Say ``consumer`` is alive for ``ttl_ms``, and claim its name with this client's token.
        Returns 0 when written, else (the name is another live process's) how long the other's
        claim has left, in ms: nothing is written then."""
        keys = [self._claim(consumer), self.keys.workers, self.keys.workers_info]
        info_json = json.dumps(info, ensure_ascii=False)
        args: list[Any] = [self.token, self._member(consumer), ttl_ms, info_json, _STALE_WORKER_MS]
        with self.errors("write a heartbeat"):
            return int(await self._heartbeat(keys=keys, args=args))

    async def worker_info(self, consumer: str | None = None) -> list[dict[str, Any]]:
        """Live workers' last heartbeats (or only ``consumer``'s), of this queue's group: those whose
        heartbeat lasts past now on Redis's clock (the one that scored them)."""
        with self.errors("read heartbeats"):
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.time()
                pipe.zrange(self.keys.workers, 0, -1, withscores=True)
                now, beats = await pipe.execute()
            names = _alive(now, beats)
            if consumer is not None:  # its entry, or one an older memoryd wrote under the bare name
                names = [n for n in names if n in (self._member(consumer), consumer)]
            raw = await self.client.hmget(self.keys.workers_info, names) if names else []
        return self._of_group(raw)

    def _of_group(self, raws: list[str | None]) -> list[dict[str, Any]]:
        """The heartbeats of ``pipeline.group``'s workers: the workers of every group consuming the
        stream write theirs side by side, and one of another group processes none of this one's events
        (a heartbeat naming no group counts for every one)."""
        infos = [json.loads(r) for r in raws if r]
        group = self.config.group
        return [w for w in infos if isinstance(w, dict) and w.get("group", group) == group]

    async def leave(self, consumer: str) -> None:
        """Forget this worker: its claim on its name, its heartbeat, and its group membership if it
        holds nothing; none of them if another process holds the name now (they are that one's).
        Then the dead consumers other workers left (:meth:`prune_consumers`): a worker run by cron
        (``--burst``) cleans up too."""
        keys = [self._claim(consumer), self.keys.workers, self.keys.workers_info]
        with self.errors("leave the group"):
            if not await self._leave(keys=keys, args=[self.token, self._member(consumer)]):
                return
            try:
                members = await self.client.xinfo_consumers(self.keys.stream, self.config.group)
            except ResponseError:
                return
            if any(m.get("name") == consumer and int(m.get("pending", 0)) == 0 for m in members):
                await self.client.xgroup_delconsumer(self.keys.stream, self.config.group, consumer)
        with contextlib.suppress(StorageError):
            await self.prune_consumers(self.config.claim_idle_ms)

    async def prune_consumers(self, min_idle_ms: int) -> list[str]:
        """Delete the group's dead consumers: those holding no pending entry, idle ``min_idle_ms`` or
        longer, with no live heartbeat (:mod:`.redis_consumers`); their names."""
        group = self.config.group
        gone: list[str] = await self._grouped(
            "remove dead consumers", lambda: prune(self.client, self.keys, group, min_idle_ms)
        )
        return gone

    async def outstanding(self) -> int:
        with self.errors("count outstanding events"):
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.xlen(self.keys.stream)
                pipe.zcard(self.keys.retry)
                pipe.xinfo_groups(self.keys.stream)
                length, retry, groups = await pipe.execute(raise_on_error=False)
        group = self._group_info(groups)
        pending = int(group.get("pending", 0))
        lag = group.get("lag")
        # Never more than the stream holds: Redis's lag still counts entries deleted before their
        # delivery (an erasure deletes a user's queued events), until the group reads past them.
        undelivered = max(0, int(length) - pending)
        if lag is not None:
            undelivered = min(int(lag), undelivered)
        return undelivered + pending + int(retry)

    # -- dead letters ------------------------------------------------------------
    async def dlq_list(self, count: int, ids: list[str] | None = None) -> list[DeadLetter]:
        """The oldest ``count`` dead letters, or those of ``ids`` (exact entry ids, ``<ms>-<seq>``)."""
        with self.errors("read the dead-letter queue"):
            if ids:
                entries: list[Any] = []
                for entry_id in dict.fromkeys(ids):
                    if is_entry_id(entry_id):  # "<ms>" alone would be a range: a whole millisecond
                        entries += await self.client.xrange(self.keys.dlq, entry_id, entry_id)
            else:
                # Redis refuses a COUNT past 2**63 - 1 ("value is not an integer or out of range")
                entries = await self.client.xrange(self.keys.dlq, "-", "+", count=min(count, 2**63 - 1))
        return [_dead_letter(i, f) for i, f in entries]

    async def dlq_replay(self, entries: list[DeadLetter], *, dry_run: bool = False) -> Replayed:
        """Put dead letters back on the stream as fresh first attempts (see :class:`Replayed`
        and :data:`scripts.REPLAY`). An entry gone since it was listed (another replay or a purge
        took it) is listed under ``gone``, and nothing is done with it. A dry run
        runs the same script, which then answers as it would and writes nothing."""
        now = _now_iso()
        out = Replayed()
        with self.errors("replay dead letters"):
            for letter in entries:
                event_id: str | None
                owner = digest = ""
                try:
                    event = PipelineEvent.from_fields(letter.fields)
                    fields, event_id = event.replayed(letter.dlq_id).to_fields(), event.event_id
                    owner, digest = event.payload.user_id or "", event.payload.digest()
                except InvalidInputError:  # replayed as it was: a fixed (upgraded) worker may read it now
                    fields, event_id = _raw_replay(letter)
                    owner = _raw_owner(letter.fields)
                keys = [self.keys.dlq, self.keys.stream, self.keys.status(event_id or "-"), self.keys.stats]
                record = [event_id or "", owner, digest, letter.fields.get("source", "external")]
                dry = "1" if dry_run else "0"
                args = [letter.dlq_id, now, "1" if event_id else "0", *record, dry, *_flat(fields)]
                answer = await self._replay(keys=keys, args=args)
                if answer[0] == "replayed":
                    out.letters.append(letter.dlq_id)
                    if not dry_run:
                        out.stream_ids.append(str(answer[1]))
                elif answer[0] == "conflict":
                    out.conflicts.append(letter.dlq_id)
                elif answer[0] == "done":
                    out.finished.append(letter.dlq_id)
                elif answer[0] == "gone":
                    out.gone.append(letter.dlq_id)
        return out

    async def dlq_tail(self) -> tuple[int, str | None]:
        with self.errors("read the dead-letter queue"):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.xlen(self.keys.dlq)
                pipe.xrevrange(self.keys.dlq, "+", "-", count=1)
                size, newest = await pipe.execute()
        return int(size), (str(newest[0][0]) if newest else None)

    async def dlq_purge(self, *, ids: list[str] | None = None, up_to: str | None = None) -> int:
        """Delete dead letters, saying so in their events' status (see :mod:`.redis_dlq`)."""
        with self.errors("purge the dead-letter queue"):
            return await purge_letters(self.client, self._purge, self.keys, ids=ids, up_to=up_to)


def _event_of(o: Outcome) -> PipelineEvent | None:
    """The event an outcome is of (``None``: its entry cannot be read)."""
    if o.event is not None:
        return o.event
    if o.event_id is None:
        return None
    try:
        return PipelineEvent.from_fields(o.delivery.fields)
    except Exception:  # noqa: BLE001 - unreadable: dead-lettered as it is, whatever it holds
        return None


def _raw_replay(letter: DeadLetter) -> tuple[dict[str, str], str | None]:
    """A dead letter this code cannot decode, as a fresh first attempt, and its event id if that
    is readable: the status record must say ``queued`` again, or the worker that can read the
    event would take it for a duplicate of the dead-lettered one and drop it."""
    fields = {k: v for k, v in letter.fields.items() if k != "last_error"}
    fields.update(attempt="1", replayed_from=letter.dlq_id)
    return fields, readable_event_id(letter.fields)


def _raw_owner(fields: dict[str, str]) -> str:
    """The payload's user_id of an entry this code cannot decode, when it is there to read; else ""."""
    try:
        payload = json.loads(fields.get("payload") or "{}")
    except ValueError:
        return ""
    user_id = payload.get("user_id") if isinstance(payload, dict) else None
    return user_id if isinstance(user_id, str) else ""


def _entries(reply: Any) -> list[tuple[str, dict[str, str] | None]]:
    """The entries of an XREADGROUP reply: ``[[stream, [(id, fields), ...]]]``."""
    out: list[tuple[str, dict[str, str] | None]] = []
    for _, entries in reply or []:
        out.extend((i, f) for i, f in entries if i is not None)
    return out


def _dead_letter(entry_id: str, fields: dict[str, str]) -> DeadLetter:
    raw_error = fields.get("dlq_error") or "{}"
    try:
        error = json.loads(raw_error)
    except ValueError:
        error = {"message": raw_error}
    attempts = fields.get("dlq_attempts", "0")
    return DeadLetter(
        dlq_id=entry_id,
        event_id=fields.get("event_id"),
        fields={k: v for k, v in fields.items() if k not in DLQ_FIELDS},
        error=error if isinstance(error, dict) else {"message": str(error)},
        attempts=int(attempts) if attempts.isdigit() else 0,
        dead_at=fields.get("dlq_at"),
        stream_id=fields.get("dlq_stream_id"),
    )
