"""A ceiling on the request bodies one server holds at once (``limits.max_body_bytes_in_flight``).

Each request's limit (``limits.max_body_bytes``, the chat gateway's ``gateway.max_body_bytes``)
bounds one body, not how many arrive together: forty chat calls of 32 MiB each, parsed, injected
and encoded again for the upstream, took a server to 7 GB. So the body limit middleware takes
each body's size from this budget before it reads it (its ``Content-Length``, or chunk by chunk
as a chunked body streams) and gives it back when the app has answered (a streamed answer at its
end). A body that does not fit waits for room, holding none (a chunked body that must wait for
more gives back what it held: two never hold the room each waits for), at most
``limits.body_wait_s`` (default :data:`WAIT_S`), then is refused with 503 ``server_busy`` and
``Retry-After``. One body is always let through when nothing else is held, so a single request
within its own limit never waits for ever.
"""

from __future__ import annotations

import asyncio
import logging

__all__ = ["WAIT_S", "BodyBudget"]

WAIT_S = 10.0  # the longest a body waits for room before its 503, by default

log = logging.getLogger("memoryd.server")


class BodyBudget:
    """Bytes of request bodies held at once, up to ``limit`` (one event loop's)."""

    def __init__(self, limit: int, *, wait_s: float = WAIT_S) -> None:
        self.limit = limit
        self.wait_s = wait_s
        self.used = 0
        self.refused = 0  # bodies refused for want of room
        self._room = asyncio.Condition()

    async def take(self, size: int) -> bool:
        """Hold ``size`` more bytes; False if no room came within ``wait_s`` (nothing is held then)."""
        if size <= 0:
            return True
        if self.used + size > self.limit and self.used > 0:
            try:
                async with asyncio.timeout(self.wait_s), self._room:
                    await self._room.wait_for(lambda: self.used + size <= self.limit or self.used == 0)
                    self.used += size
                    return True
            except TimeoutError:
                self.refused += 1
                if self.refused == 1 or self.refused % 100 == 0:
                    log.warning(
                        "request bodies held at once reached limits.max_body_bytes_in_flight (%d bytes): "
                        "%d request(s) refused with 503 so far",
                        self.limit, self.refused,
                    )  # fmt: skip
                return False
        self.used += size
        return True

    async def grow(self, held: int, more: int) -> int:
        """Hold ``more`` bytes beside the ``held`` a body streaming in holds already; returns what
        it holds then: ``held + more``, or 0 if no room came within ``wait_s`` (then it holds
        nothing). A body that must wait gives back what it held while it waits, so that two bodies
        streaming in never hold the room each waits for (and so one fits alone, as with take)."""
        if more <= 0:
            return held
        if self.used + more <= self.limit:
            self.used += more
            return held + more
        await self.give(held)
        return held + more if await self.take(held + more) else 0

    async def give(self, size: int) -> None:
        """Give back ``size`` bytes held."""
        if size <= 0:
            return
        self.used -= size
        async with self._room:
            self._room.notify_all()
