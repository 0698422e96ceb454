"""Rate limits: one token bucket per API key, and (when set) one per tenant.

Each key may send ``rate`` requests per second on average and ``burst`` at once.
A request over the limit is refused with 429 and ``Retry-After``; more calls at once (an MCP
batch) than the burst, which no wait lets through, with 413 and no ``Retry-After``. The tenant's bucket
is shared by every key of the tenant but admin keys, so a service key cannot multiply its
tenant's rate by minting user keys. Buckets live in this process (a cluster of servers
gives each key, and each tenant, the rate once per server).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from memoryd.errors import PayloadTooLargeError, RateLimitedError
from memoryd.wording import counted

__all__ = ["RateLimiter", "take_all"]

_MAX_BUCKETS = 100_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Token buckets by key; ``rate`` 0 turns limiting off."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        subject: str = "this API key",
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.subject = subject  # whose limit, in the 429's message
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, count: int = 1) -> None:
        """Spend ``count`` tokens of ``key``'s bucket (one request, or the calls of an MCP
        batch), or raise :class:`RateLimitedError`."""
        take_all(((self, key),), count)

    def check_fits(self, count: int) -> None:
        """Refuse ``count`` calls at once (an MCP batch) that are more than the burst: no wait
        lets them through, so this is a 413 (:class:`PayloadTooLargeError`, no ``Retry-After``), not
        a 429 a client would retry for ever. Nothing is spent."""
        if self.rate > 0 and count > self.burst:
            at_most = counted(self.burst, "message", "messages")
            raise PayloadTooLargeError(
                f"a batch of {count} calls is more than {self.subject}'s burst of {self.burst}, and no "
                f"wait lets it through: send at most {at_most} per request",
                calls=count,
                burst=self.burst,
            )

    def _ready(self, key: str, count: int) -> _Bucket | None:
        """``key``'s bucket, refilled, once it holds ``count`` tokens (None: no limit); else
        :class:`RateLimitedError`. Nothing is spent."""
        if self.rate <= 0:
            return None
        self.check_fits(count)
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        if bucket.tokens < count:
            wait = (count - bucket.tokens) / self.rate
            raise RateLimitedError(
                f"rate limit of {_per_second(self.rate)} (burst {self.burst}) reached for {self.subject}; "
                f"retry in {wait:.2f} s",
                retry_after_s=wait,
            )
        return bucket

    def _forget_full(self, now: float) -> None:
        # A bucket refilled to the brim is the same as no bucket: drop those.
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.stamp) * self.rate >= self.burst:
                del self._buckets[key]


def _per_second(rate: float) -> str:
    """``rate`` as the 429 says it: "1 request/s", "5 requests/s", "0.5 requests/s"."""
    if float(rate).is_integer():
        return f"{counted(int(rate), 'request', 'requests')}/s"
    return f"{rate:g} requests/s"


def take_all(charges: Iterable[tuple[RateLimiter, str]], count: int = 1) -> None:
    """Spend ``count`` tokens of each ``(limiter, key)``'s bucket, or of none: a request one of
    them refuses (429) costs the others nothing (a key refused by its tenant's budget kept
    paying for each refused retry, and stayed refused by its own once the tenant's refilled)."""
    buckets = [limiter._ready(key, count) for limiter, key in charges]
    for bucket in buckets:
        if bucket is not None:
            bucket.tokens -= count
