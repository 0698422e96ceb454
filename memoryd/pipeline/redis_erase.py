"""Erasing a user's (or, a reset, a tenant's) events from Redis without blocking it.

Redis runs one script at a time and nothing else meanwhile, so the erasure never reads a whole
stream in one script: the deletion's time is read on Redis's clock first, the store's erasure runs
with it, :data:`scripts.MARK` marks the deletion as soon as the store has committed its own mark
(the deletion has begun; none when the store failed before that: nothing is marked or swept then),
and the retry set, the dead-letter stream and the stream are swept in steps of bounded work (at
most :data:`STEP_ENTRIES` entries or :data:`STEP_BYTES` of payload each), every step taking up
where the last one stopped.
Between two steps Redis answers every other client, so a backlog of a million entries delays a
``PING`` by a step's few milliseconds, not by seconds. A step deletes only entries of the user
enqueued at or before the mark (events enqueued after it are new, and stay), and what it deleted
stays deleted: an erasure that failed half way is finished by running it again.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from typing import Any

from redis.exceptions import TimeoutError as RedisTimeoutError

from memoryd.config import DEFAULT_TENANT
from memoryd.errors import StorageError
from memoryd.pipeline import scripts
from memoryd.pipeline.base import Staged
from memoryd.pipeline.keys import Keys

__all__ = ["STEP_BYTES", "STEP_ENTRIES", "Eraser"]

STEP_ENTRIES = 2000  # entries one step looks at, at most (a few ms of Redis's time)
STEP_BYTES = 1 << 20  # bytes of payload one step decodes, at most
_SMALLEST = 50  # a step that timed out runs again from its cursor, a quarter the size, down to this
_TIMEOUTS = 3  # how many times in a row a step may time out before the erasure fails


class Eraser:
    """The erasure of one queue's keys (see :meth:`RedisQueue.forget_user`)."""

    def __init__(
        self, client: Any, keys: Keys, errors: Callable[[str], AbstractContextManager[None]]
    ) -> None:
        self.client, self.keys, self.errors = client, keys, errors
        self._mark = client.register_script(scripts.MARK)
        self._stream = client.register_script(scripts.ERASE_STREAM)
        self._retries = client.register_script(scripts.ERASE_RETRIES)
        self._drop_statuses = client.register_script(scripts.DROP_STATUSES)

    async def erase(self, tenant: str, user_id: str | None, between: Staged | None = None) -> int:
        """Read the deletion's time on Redis's clock, rounded up (the mark, returned: ms), and run
        ``between`` with it (the store's erasure) and with what marks the deletion, which it awaits
        once the store has committed its own mark (from then on the store refuses the user's events
        enqueued up to the mark: the deletion has begun), so that workers skip them at once, not
        only once the whole store is erased. Then sweep the retry set, the dead letters and the
        stream (in that order: an entry put back on the stream from one of the first two during
        their sweep is met again in the stream's), then the status records of finished events: done
        after the store's erasure, an add a worker stores while a long sweep runs, queued after the
        mark, is not erased with the user's.

        A ``between`` that fails before the deletion began leaves no mark and sweeps nothing: the
        events queued before it stay queued, as nothing was erased. One that fails after it (a full
        disk half way) leaves the deletion begun: the queue is swept as well (what the store refuses
        goes from the queue too) and its error raised, to send the deletion again. When marking
        fails (Redis down), the store's erasure goes on and Redis's error is raised after it."""
        k = self.keys
        mark_key = k.forgotten(tenant, user_id)
        old = k.forgotten_by_name(tenant, user_id) if user_id is not None else mark_key
        with self.errors("erase a user's events"):
            mark = await scripts.clock_ms(self.client, up=True)  # that millisecond's events too
        marked: list[StorageError | None] = []  # once the deletion began: how marking it ended

        async def begin() -> None:
            if marked:
                return
            try:
                with self.errors("mark a user's deletion"):
                    await self._mark(keys=[mark_key, old], args=[mark, scripts.FORGOTTEN_KEEP_MS])
            except StorageError as exc:  # the store's erasure goes on: the store refuses them anyway
                marked.append(exc)
            else:
                marked.append(None)

        try:
            if between is not None:
                await between(mark, begin)
        except Exception:
            if marked and marked[0] is None:  # begun: the store refuses them, the queue drops them
                with suppress(StorageError):  # the store's error is the answer: sent again, it sweeps
                    await self._sweep_all(tenant, user_id, mark)
            raise
        await begin()  # a ``between`` that did not (none, or no store's erasure)
        if marked[0] is not None:
            raise marked[0]
        await self._sweep_all(tenant, user_id, mark)
        return mark

    async def _sweep_all(self, tenant: str, user_id: str | None, mark: int) -> None:
        k = self.keys
        with self.errors("erase a user's events"):
            base: list[Any] = [tenant, user_id or "", DEFAULT_TENANT, mark, k.status_prefix]
            await self._sweep(self._retries, k.retry, [*base, "0"], [])
            for key in (k.dlq, k.stream):
                # Up to its last entry now: what comes after it is not an event of theirs enqueued
                # before the mark (FINISH neither retries nor dead-letters those any more).
                last = await self.client.xrevrange(key, count=1)
                if last:
                    await self._sweep(self._stream, key, [*base, "-"], [last[0][0]])
            await self._drop_finished(tenant, user_id, mark)

    async def _sweep(self, script: Any, key: str, args: list[Any], tail: list[Any]) -> int:
        """Run ``script`` step after step from the cursor (the last of ``args``) until it answers
        ``''``; how many entries went. A step that times out (Redis busy with another client's
        command, or slow) is not sent again as it was: it runs again from the same cursor, a quarter
        the size, and only a few timeouts in a row fail the erasure."""
        *base, cursor = args
        size, timeouts, erased = STEP_ENTRIES, 0, 0
        while cursor != "":
            try:
                cursor, n = await script(keys=[key], args=[*base, cursor, size, STEP_BYTES, *tail])
            except RedisTimeoutError:
                timeouts += 1
                if timeouts > _TIMEOUTS:
                    raise
                size = max(_SMALLEST, size // 4)
                continue
            timeouts, erased = 0, erased + int(n)
        return erased

    async def _drop_finished(self, tenant: str, user_id: str | None, mark: int) -> None:
        """Delete the status records (results included) of ``user_id``'s events of ``tenant`` (``None``:
        of every event of the tenant) enqueued at or before ``mark``: a SCAN of the tenant's records
        (an erasure is rare, and the normal path keeps no index for it), checked and deleted by
        :data:`scripts.DROP_STATUSES` a chunk at a time."""
        prefix = self.keys.status_prefix
        own = tenant != DEFAULT_TENANT  # a tenant's ids start "<tenant>/"; the default one's hold no "/"
        match = _glob(prefix) + (f"{tenant}/*" if own else "*")
        chunk: list[str] = []
        async for key in self.client.scan_iter(match=match, count=1000):
            if own or "/" not in key[len(prefix) :]:
                chunk.append(key)
            if len(chunk) >= 500:
                await self._drop_statuses(keys=chunk, args=[user_id or "", mark])
                chunk = []
        if chunk:
            await self._drop_statuses(keys=chunk, args=[user_id or "", mark])


def _glob(text: str) -> str:
    """``text`` matched literally by a SCAN pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
