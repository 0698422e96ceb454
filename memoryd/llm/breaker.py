"""A circuit breaker and the counters the router keeps for each target.

Closed: calls go through; ``failures`` consecutive failures open it. Open:
calls skip the target until ``cooldown_s`` has passed, then it is half-open.
Half-open: exactly one call (the probe) goes through; success closes the
breaker, failure opens it again for another cool-down. The clock is
injectable so tests can move time instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Breaker", "BreakerState", "TargetStats"]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass
class Breaker:
    """One target's breaker (not thread-safe: the router runs on one event loop)."""

    failures: int = 3
    cooldown_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    state: BreakerState = "closed"
    consecutive: int = 0
    opened_at: float = 0.0
    times_opened: int = 0
    probing: bool = False

    def current(self) -> BreakerState:
        """The state now (an open breaker whose cool-down has passed reads half-open)."""
        if self.state == "open" and self.clock() - self.opened_at >= self.cooldown_s:
            return "half_open"
        return self.state

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when it would now)."""
        if self.state != "open":
            return 0.0
        return max(0.0, self.cooldown_s - (self.clock() - self.opened_at))

    def allow(self) -> bool:
        """May a call go to this target now? In half-open state, only the first caller may."""
        if self.current() == "half_open":
            self.state = "half_open"
            if self.probing:
                return False
            self.probing = True
            return True
        return self.state == "closed"

    def answering(self) -> None:
        """A call has begun to answer (a stream's first chunk), its verdict still to come: the
        target is up, so a half-open breaker closes and lets other calls through; the count of
        consecutive failures stands until the verdict (a stream that then breaks adds to it)."""
        if self.state == "half_open":
            self.state = "closed"
        self.probing = False

    def success(self) -> None:
        self.state, self.consecutive, self.probing = "closed", 0, False

    def failure(self) -> None:
        self.consecutive += 1
        if self.state == "half_open" or self.consecutive >= self.failures:
            if self.state != "open":
                self.times_opened += 1
            self.state, self.opened_at = "open", self.clock()
        self.probing = False

    def release(self) -> None:
        """The call ended with no verdict (cancelled): let another probe through."""
        self.probing = False


@dataclass
class TargetStats:
    """Counters for one target, as :meth:`Router.stats` reports them."""

    calls: int = 0  # attempts sent to it
    successes: int = 0
    failures: int = 0  # errors: timeouts, connection errors, HTTP errors, malformed replies
    rejected: int = 0  # answers the caller rejected (LLMOutputError); not failures for the breaker
    rate_limited: int = 0  # 429s: the target asked to wait; not failures for the breaker
    bad_requests: int = 0  # requests it refused as invalid (400, 413, 422); not failures for the breaker
    fallbacks: int = 0  # times a call moved on from this target to another one
    rescues: int = 0  # calls it answered after another target had failed
    skipped: int = 0  # calls that skipped it because its breaker was open
    tokens_in: int = 0
    tokens_out: int = 0
    latency_total_s: float = 0.0
    latency_last_s: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None  # epoch seconds
    # attempts since its last success that failed or gave an unusable answer (0 after a success):
    # a model whose answers are all unusable never opens the breaker, yet nothing it says is used
    since_success: int = 0
    unusable_since_success: int = 0  # those of them that were answers rejected as unusable
    last_success_at: float | None = None  # epoch seconds

    def succeeded(self) -> None:
        self.successes += 1
        self.since_success = self.unusable_since_success = 0
        self.last_success_at = time.time()

    def went_wrong(self, *, unusable: bool = False) -> None:
        """An attempt failed (``unusable``: it answered, with nothing usable)."""
        if unusable:
            self.rejected += 1
            self.unusable_since_success += 1
        else:
            self.failures += 1
        self.since_success += 1

    def to_dict(self) -> dict[str, Any]:
        answered = self.successes + self.rejected
        mean = self.latency_total_s / self.calls if self.calls else None
        return {
            "calls": self.calls,
            "successes": self.successes,
            "failures": self.failures,
            "rejected": self.rejected,
            "rate_limited": self.rate_limited,
            "bad_requests": self.bad_requests,
            "fallbacks": self.fallbacks,
            "rescues": self.rescues,
            "skipped": self.skipped,
            "answered": answered,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "latency_ms_mean": None if mean is None else round(mean * 1000, 2),
            "latency_ms_last": None if self.latency_last_s is None else round(self.latency_last_s * 1000, 2),
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "since_success": self.since_success,
            "unusable_since_success": self.unusable_since_success,
            "last_success_at": self.last_success_at,
        }
