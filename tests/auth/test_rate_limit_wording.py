"""The 429 of a key limited to one request a second said "1 requests/s", and a 413 for a burst of
one said "send at most 1 messages": each count is now said in the singular for one."""

from __future__ import annotations

import pytest

from memoryd.auth.ratelimit import RateLimiter
from memoryd.errors import PayloadTooLargeError, RateLimitedError


def test_a_rate_of_one_is_one_request_a_second() -> None:
    limiter = RateLimiter(1, 1, clock=lambda: 0.0)
    limiter.take("k")
    with pytest.raises(RateLimitedError) as refused:
        limiter.take("k")
    assert "rate limit of 1 request/s (burst 1)" in refused.value.message, refused.value.message


def test_other_rates_stay_plural() -> None:
    for rate, said in ((5, "5 requests/s"), (0.5, "0.5 requests/s")):
        limiter = RateLimiter(rate, 1, clock=lambda: 0.0)
        limiter.take("k")
        with pytest.raises(RateLimitedError) as refused:
            limiter.take("k")
        assert f"rate limit of {said} " in refused.value.message, refused.value.message


def test_a_burst_of_one_is_one_message_per_request() -> None:
    with pytest.raises(PayloadTooLargeError) as refused:
        RateLimiter(1, 1).check_fits(2)
    assert "send at most 1 message per request" in refused.value.message, refused.value.message
    with pytest.raises(PayloadTooLargeError) as refused:
        RateLimiter(1, 3).check_fits(4)
    assert "send at most 3 messages per request" in refused.value.message, refused.value.message
