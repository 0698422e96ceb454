"""Erasing a user from a big backlog does not block Redis: with 300,000 entries queued (and 30,000
dead letters), ``forget_user`` finishes although one Redis call may take at most half a second,
Redis answers another client's ``PING`` within 100 ms all along (no script runs long: none is in
the slow log), the user's entries, dead letters, retries and status records are gone, everyone
else's are all there, and an event of the same user enqueued after the deletion began stays.
A step that times out (Redis paused for a second) is run again and the erasure finishes; one that
keeps timing out fails it, and running it again once Redis answers finishes it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from memoryd.config import DEFAULT_TENANT
from memoryd.errors import StorageError
from memoryd.pipeline import AddPayload, PipelineEvent, build_queue
from memoryd.pipeline.local_redis import LocalRedis
from tests.pipeline.conftest import pipeline_settings

BACKLOG = 300_000
DEAD = 30_000
USERS = 1000


def entry(i: int, at: int) -> dict[str, str]:
    """A queued event of ``user<i % USERS>``, as ENQUEUE writes one."""
    payload = {"messages": f"note {i} of a long backlog", "user_id": f"user{i % USERS}"}
    return {
        "v": "2", "event_id": f"e-{i}", "type": "add", "created_at": "2026-12-06T10:00:00.000000+00:00",
        "attempt": "1", "source": "api:v1", "payload": json.dumps(payload), "enqueued_ms": str(at),
    }  # fmt: skip


# ``entry`` written by Redis itself (a Python loop of XADDs took 20 s for the backlog, and reading it back 7 s): the same
# fields, the payload the same JSON text as ``json.dumps`` writes.
_FILL = """
local queued, at, users = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local statuses = 0
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) - 1 do
  local user = 'user' .. (i % users)
  local payload = '{"messages": "note ' .. i .. ' of a long backlog", "user_id": "' .. user .. '"}'
  local fields = {'v', '2', 'event_id', 'e-' .. i, 'type', 'add', 'created_at',
    '2026-12-06T10:00:00.000000+00:00', 'attempt', '1', 'source', 'api:v1', 'payload', payload,
    'enqueued_ms', at}
  local key = KEYS[1]
  if i >= queued then
    key = KEYS[2]
    for _, x in ipairs({'dlq_error', '{}', 'dlq_attempts', '5', 'dlq_stream_id', at .. '-' .. i}) do
      fields[#fields + 1] = x
    end
  end
  redis.call('XADD', key, '*', unpack(fields))
  if i % 100 == 7 or i % 100 == 8 then
    redis.call('HSET', KEYS[3] .. 'e-' .. i, 'status', 'queued', 'owner', user)
    statuses = statuses + 1
  end
end
return statuses
"""

# How many entries of each user a stream holds, counted by Redis: [user, n, user, n, ..., last id].
_USERS = """
local counts, out = {}, {}
local chunk = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
for _, item in ipairs(chunk) do
  local fields = item[2]
  for k = 1, #fields, 2 do
    if fields[k] == 'payload' then
      local user = cjson.decode(fields[k + 1]).user_id
      counts[user] = (counts[user] or 0) + 1
    end
  end
end
for user, n in pairs(counts) do
  out[#out + 1] = user
  out[#out + 1] = n
end
out[#out + 1] = #chunk > 0 and chunk[#chunk][1] or ''
return out
"""


def fill(url: str, ns: str, queued: int = BACKLOG, dead: int = DEAD) -> int:
    """The backlog, written fast (XADDs by a script, not the producer); how many status records."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        seconds, micros = client.time()
        at = int(seconds) * 1000 + int(micros) // 1000 - 60_000
        statuses = 0
        for start in range(0, queued + dead, 10_000):
            stop = min(start + 10_000, queued + dead)
            keys = (ns, f"{ns}:dlq", f"{ns}:event:")
            statuses += int(client.eval(_FILL, 3, *keys, start, stop, queued, at, USERS))  # type: ignore[arg-type]
        for i in (7, 8):
            flat = [x for pair in entry(queued + dead + i, at).items() for x in pair]
            client.zadd(f"{ns}:retry", {json.dumps(flat): at})
        return statuses
    finally:
        client.close()


def settle(client: redis.Redis) -> None:
    """Wait for the AOF rewrite the backlog's writes started: its fork stalls Redis too, whoever runs."""
    for _ in range(600):
        info = client.info("persistence")
        if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
            return
        time.sleep(0.1)


def users(client: redis.Redis, key: str) -> Counter[str]:
    """How many entries of each user ``key`` (a stream) holds (its payloads read by a script)."""
    out: Counter[str] = Counter()
    start = "-"
    while True:
        *counts, last = client.eval(_USERS, 1, key, start, 20_000)  # type: ignore[misc]
        if not last:
            return out
        out.update({user: int(n) for user, n in zip(counts[::2], counts[1::2], strict=True)})
        start = "(" + last


class Pinger(threading.Thread):
    """Another client: a PING every 2 ms, noting the longest wait for an answer."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url, socket_timeout=30)
        self.done = threading.Event()
        self.longest, self.pings = 0.0, 0

    def run(self) -> None:
        while not self.done.is_set():
            began = time.perf_counter()
            self.client.ping()
            self.longest = max(self.longest, time.perf_counter() - began)
            self.pings += 1
            time.sleep(0.002)
        self.client.close()


async def test_erasing_a_user_from_a_big_backlog_keeps_redis_answering(
    tmp_path: Path, redis_server: LocalRedis, prefix: str
) -> None:
    settings = pipeline_settings(tmp_path / "memoryd.db", redis_server.url, prefix, timeout_s=0.5)
    ns = settings.pipeline.ns
    statuses = fill(redis_server.url, ns)
    sync = redis.Redis.from_url(redis_server.url, decode_responses=True)
    queue = build_queue(settings.pipeline)
    pinger = Pinger(redis_server.url)
    try:
        settle(sync)
        slow_before = max((e["id"] for e in sync.slowlog_get(128)), default=-1)
        mark_key = queue.keys.forgotten(DEFAULT_TENANT, "user7")

        async def enqueue_after_the_mark() -> None:
            while (marked := await queue.client.get(mark_key)) is None:  # type: ignore[attr-defined]
                await asyncio.sleep(0.001)
            while await queue.time_ms() <= int(marked):  # one of the mark's own ms would go with it
                await asyncio.sleep(0.001)
            event = PipelineEvent("e-new", AddPayload("user7 is back", user_id="user7"))
            assert (await queue.enqueue(event)).created

        pinger.start()
        await asyncio.sleep(0.1)  # connected, and answered
        began = time.perf_counter()
        later = asyncio.create_task(enqueue_after_the_mark())
        mark = await queue.forget_user(DEFAULT_TENANT, "user7")
        took = time.perf_counter() - began
        await later
        pinger.done.set()
        pinger.join()
        assert pinger.pings > 20, pinger.pings
        forked = sync.info("stats").get("latest_fork_usec")
        assert pinger.longest < 0.1, f"a PING waited {pinger.longest:.3f} s (erasure {took:.2f} s, fork {forked} us)"
        slow = [e for e in sync.slowlog_get(128) if e["id"] > slow_before and ns in str(e["command"])]
        assert all(e["duration"] < 100_000 for e in slow), [(e["command"][:40], e["duration"]) for e in slow]

        queued, dead = users(sync, ns), users(sync, f"{ns}:dlq")
        per_user = BACKLOG // USERS
        assert queued["user7"] == 1  # the event enqueued after the mark, and only it
        assert all(queued[f"user{u}"] == per_user for u in range(USERS) if u != 7)
        assert dead["user7"] == 0 and all(dead[f"user{u}"] == DEAD // USERS for u in range(USERS) if u != 7)
        new = sync.hgetall(f"{ns}:event:e-new")
        assert new["status"] == "queued" and int(sync.xrevrange(ns, count=1)[0][1]["enqueued_ms"]) > mark
        retries = [json.loads(m) for m in sync.zrange(f"{ns}:retry", 0, -1)]
        assert [json.loads(dict(zip(m[::2], m[1::2]))["payload"])["user_id"] for m in retries] == ["user8"]
        left = {k for k in sync.scan_iter(match=f"{ns}:event:*", count=10_000)} - {f"{ns}:event:e-new"}
        owners = Counter(sync.hget(k, "owner") for k in left)
        assert owners["user7"] == 0 and sum(owners.values()) == statuses - (BACKLOG + DEAD) // USERS
    finally:
        pinger.done.set()
        await queue.close()
        sync.close()


async def test_a_step_that_times_out_runs_again_and_only_a_redis_that_keeps_silent_fails_the_erasure(
    tmp_path: Path, redis_server: LocalRedis, prefix: str
) -> None:
    settings = pipeline_settings(tmp_path / "memoryd.db", redis_server.url, prefix, timeout_s=0.25)
    ns = settings.pipeline.ns
    fill(redis_server.url, ns, 20_000, 0)
    sync = redis.Redis.from_url(redis_server.url, decode_responses=True)
    queue = build_queue(settings.pipeline)
    mark_key = queue.keys.forgotten(DEFAULT_TENANT, "user7")

    async def pause_after_the_mark(ms: int) -> None:
        while not await queue.client.exists(mark_key):  # type: ignore[attr-defined]
            await asyncio.sleep(0.0005)
        sync.client_pause(ms, all=False)  # writes (so scripts) wait; a step already sent times out

    try:
        settle(sync)
        pause = asyncio.create_task(pause_after_the_mark(1200))
        began = time.perf_counter()
        await queue.forget_user(DEFAULT_TENANT, "user7")  # each try waits 0.25 s twice: 4 tries in all
        await pause
        assert time.perf_counter() - began > 1.0  # it did wait out the pause
        assert users(sync, ns)["user7"] == 0 and users(sync, ns)["user8"] == 20

        sync.delete(mark_key)
        fill(redis_server.url, ns, 20_000, 0)
        pause = asyncio.create_task(pause_after_the_mark(10_000))
        with pytest.raises(StorageError, match="unreachable .*TimeoutError"):
            await queue.forget_user(DEFAULT_TENANT, "user7")
        await pause
        sync.client_unpause()
        assert users(sync, ns)["user7"] > 0  # not all of it was done
        await queue.forget_user(DEFAULT_TENANT, "user7")  # once Redis answers, it finishes
        assert users(sync, ns)["user7"] == 0 and users(sync, ns)["user8"] == 40
    finally:
        sync.client_unpause()
        await queue.close()
        sync.close()
