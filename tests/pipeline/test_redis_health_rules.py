"""The pure rules of :mod:`memoryd.pipeline.redis_health`: when the pipeline counts as failing
(and when it must not: a busy, healthy one), and what a Redis's settings are worth."""

from __future__ import annotations

from memoryd.config import PipelineConfig
from memoryd.pipeline.redis_health import (
    Generation,
    RedisFacts,
    Tally,
    eviction_problem,
    failing,
    memory_warning,
    progress_window_ms,
    setup_warnings,
    went_back,
)

W = 30_000


def c(processed: int = 0, dead: int = 0, retried: int = 0) -> dict[str, int]:
    return {"processed": processed, "dead_lettered": dead, "retried": retried}


def test_failures_with_nothing_processed_over_the_window_are_failing() -> None:
    samples = [(0, c()), (10_000, c(dead=3, retried=6))]
    why = failing(samples, (20_000, c(dead=40, retried=80)), W)
    assert why is not None and "40 events went to the dead-letter queue" in why and "none was processed" in why
    assert "80 attempts failed" in why
    one = failing(samples, (20_000, c(dead=1, retried=1)), W)
    assert one is not None and "1 event went to" in one and "1 attempt failed" in one, one


def test_a_busy_healthy_pipeline_never_counts_as_failing() -> None:
    # Retries and the odd dead letter among thousands processed: every window has processed ones.
    samples = [(t, c(processed=t // 10, dead=t // 10_000, retried=t // 1_000)) for t in range(0, 120_001, 5_000)]
    for now in range(W // 2, 120_001, 1_000):
        older = [s for s in samples if s[0] < now]
        assert failing(older, (now, c(processed=now // 10, dead=now // 10_000, retried=now // 1_000)), W) is None


def test_no_verdict_on_too_short_a_view_or_counters_that_went_back() -> None:
    assert failing([], (10_000, c(dead=5)), W) is None  # nothing to compare with
    assert failing([(0, c())], (W // 2 - 1, c(dead=5)), W) is None  # less than half the window seen
    assert failing([(0, c(processed=9, dead=9))], (W, c(dead=1)), W) is None  # Redis lost its counters
    assert failing([(0, c(dead=1))], (2 * W, c(dead=9)), W) is None  # the failures are older than W
    assert failing([(0, c(dead=1))], (W, c(dead=1)), W) is None  # quiet: nothing failed since


def test_the_window_covers_the_longest_retry_delay() -> None:
    assert progress_window_ms(PipelineConfig()) == 30_000  # claim_idle_ms; retries wait 4 s at most
    slow = PipelineConfig(backoff_base_ms=10_000, max_attempts=5, backoff_max_ms=60_000)
    assert progress_window_ms(slow) == 198_000  # 3 x 60 s, +10% jitter
    assert progress_window_ms(PipelineConfig(max_attempts=1, claim_idle_ms=1000)) == 1000


def facts(policy: str = "noeviction", maxmemory: int = 0, aof: bool | None = True, save: str | None = "") -> RedisFacts:
    return RedisFacts(policy=policy, maxmemory=maxmemory, aof=aof, save=save, uptime_s=10)


def test_what_a_redis_setting_is_worth() -> None:
    assert eviction_problem(facts(), "r") is None and setup_warnings(facts(), "r") == []
    assert eviction_problem(facts("noeviction", 2**20), "r") is None  # full: writes fail, nothing dropped
    problem = eviction_problem(facts("volatile-ttl", 3 * 2**20), "r")
    assert problem is not None and "maxmemory-policy volatile-ttl, maxmemory 3mb" in problem
    (no_limit,) = setup_warnings(facts("allkeys-lru", 0), "r")  # evicts nothing until a limit is set
    assert "no maxmemory" in no_limit and eviction_problem(facts("allkeys-lru", 0), "r") is None
    (nothing,) = setup_warnings(facts(aof=False, save=""), "r")
    assert "no persistence" in nothing and "appendonly yes" in nothing
    (rdb,) = setup_warnings(facts(aof=False, save="3600 1"), "r")
    assert "since the last snapshot" in rdb
    (unknown,) = setup_warnings(facts(aof=False, save=None), "r")
    assert "CONFIG GET save was refused" in unknown


def test_a_full_or_nearly_full_noeviction_redis() -> None:
    full = RedisFacts("noeviction", 1000, True, "", 10, used=1200)
    assert full.full and memory_warning(full, "r") is None  # a problem, not a warning
    nearly = RedisFacts("noeviction", 1000, True, "", 10, used=950)
    assert not nearly.full and "95% full" in (memory_warning(nearly, "r") or "")
    assert memory_warning(RedisFacts("noeviction", 0, True, "", 10, used=950), "r") is None  # no limit


def g(added: int | None, last: tuple[int, int] | None, **counters: int) -> Generation:
    return Generation(added, last, counters)


def test_what_tells_that_redis_went_back() -> None:
    before = g(10, (500, 0), processed=4)
    assert went_back(before, g(12, (600, 0), processed=4)) is None  # only grew
    assert "had 10 entries added, and now 7" in (went_back(before, g(7, (400, 0), processed=4)) or "")
    # New entries after the restart leap past the lost ids; what this process added since tells.
    leapt = went_back(before, g(12, (900, 0), processed=4), added=5)
    assert leapt is not None and "5 of them added by this process" in leapt
    assert went_back(before, g(15, (900, 0), processed=4), added=5) is None
    assert "had 1 entry added, and now 0" in (went_back(g(1, (500, 0)), g(0, (400, 0))) or "")
    assert "went back from 700-1" in (went_back(before, g(None, (600, 0)), newest=(700, 1)) or "")  # Redis 6
    assert "'processed' went back from 4 to 1" in (went_back(before, g(10, (500, 0), processed=1)) or "")
    assert went_back(before, g(0, (0, 0))) is not None  # the stream is gone


def test_a_tally_counts_only_what_is_after_the_last_look() -> None:
    tally = Tally()
    early = tally.begin()  # sent before the look's figures came in: may be counted in them
    tally.settle()
    late = tally.begin()
    tally.added(early, "5-0")
    tally.added(late, "6-0")
    assert tally.take() == (1, (6, 0)) and tally.take() == (1, (0, 0))  # newest: once; the count: until settled
    tally.settle()
    assert tally.take() == (0, (0, 0))
