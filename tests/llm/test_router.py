"""The tiered router over real HTTP: fallback, timeouts, Retry-After, breakers, counters, errors."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from memoryd.errors import BackendUnavailableError, InvalidInputError, LLMOutputError, LLMUnavailableError
from memoryd.llm import Router, Target
from tests.fakes.llm_server import Script
from tests.llm.conftest import KEY, Clock, dead_url, target

HELLO = [{"role": "user", "content": "hello"}]


async def test_a_dead_first_tier_falls_back_to_the_second_and_stats_show_it(
    fake_llm: Script, fake_llm_factory: Callable[[], Script], make_router: Callable[..., Router]
) -> None:
    second = fake_llm_factory()
    second.reply_text("from tier two")
    dead = Target("ollama", "llama3.2", dead_url(), timeout_s=5)
    router = make_router([[dead], [target(second, model="backup")]])
    out = await router.complete(HELLO)
    assert out.text == "from tier two" and out.target == router.tiers[1][0].label
    stats = router.stats()
    assert stats["tiers"] == [[dead.label], [router.tiers[1][0].label]]
    first, backup = stats["targets"][dead.label], stats["targets"][router.tiers[1][0].label]
    assert (first["tier"], first["calls"], first["failures"], first["fallbacks"]) == (1, 1, 1, 1)
    assert "connection failed" in first["last_error"] and first["state"] == "closed"
    assert (backup["tier"], backup["calls"], backup["successes"], backup["rescues"]) == (2, 1, 1, 1)
    assert (backup["tokens_in"], backup["tokens_out"]) == (11, 7)
    assert backup["latency_ms_last"] is not None and backup["latency_ms_mean"] is not None
    assert len(second.requests) == 1


async def test_timeout_then_fallback(
    fake_llm: Script, fake_llm_factory: Callable[[], Script], make_router: Callable[..., Router]
) -> None:
    fake_llm.hang(30)
    backup = fake_llm_factory()
    backup.reply_text("quick")
    slow = target(fake_llm, timeout_s=0.3)
    router = make_router([[slow, target(backup)]], max_attempts=2)
    assert (await router.complete(HELLO)).text == "quick"
    assert "no answer within 0.3 s" in router.stats()["targets"][slow.label]["last_error"]


async def test_429_then_success_honours_retry_after(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.fail(429, retry_after=0.2, message="slow down")
    fake_llm.reply_text("now fine")
    t = target(fake_llm)
    router = make_router([[t]], max_attempts=3)
    assert (await router.complete(HELLO)).text == "now fine"
    assert len(fake_llm.requests) == 2
    stats = router.stats()["targets"][t.label]
    # a 429 is no failure: the target is up, asking to wait (its breaker is not moved)
    assert (stats["calls"], stats["failures"], stats["rate_limited"], stats["successes"], stats["fallbacks"]) == (
        2, 0, 1, 1, 0,
    )  # fmt: skip
    assert stats["rescues"] == 0  # a retry of the same target, not a rescue by another
    assert "HTTP 429" in stats["last_error"] and "slow down" in stats["last_error"]


async def test_a_breaker_opening_mid_call_keeps_the_real_error(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.fail(502, message="upstream down")
    router = make_router([[target(fake_llm)]], max_attempts=3, breaker_failures=1)
    with pytest.raises(LLMUnavailableError) as info:
        await router.complete(HELLO)
    assert len(fake_llm.requests) == 1
    assert (
        "HTTP 502: upstream down (then the circuit open after 1 consecutive failures)" in info.value.message
    )


async def test_a_retry_after_beyond_the_budget_is_not_waited_for(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.fail(429, retry_after=3600)
    router = make_router([[target(fake_llm)]], max_attempts=3, max_wait_s=1)
    with pytest.raises(LLMUnavailableError, match="HTTP 429"):
        await router.complete(HELLO)
    assert len(fake_llm.requests) == 1  # no second try within this call


async def test_transient_errors_are_retried_within_the_attempt_budget(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.fail(503, times=2)
    fake_llm.reply_text("third time")
    router = make_router([[target(fake_llm)]], max_attempts=3, breaker_failures=5)
    assert (await router.complete(HELLO)).text == "third time"
    fake_llm.fail(500, times=3)
    with pytest.raises(LLMUnavailableError, match=r"\(3 attempts\)"):
        await router.complete(HELLO)
    assert len(fake_llm.requests) == 6


async def test_permanent_errors_are_not_retried_on_the_same_target(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.fail(404, message="model not found", times=5)
    router = make_router([[target(fake_llm)]], max_attempts=3)
    with pytest.raises(LLMUnavailableError, match="check model and base_url"):
        await router.complete(HELLO)
    assert len(fake_llm.requests) == 1


async def test_breaker_opens_skips_half_opens_and_closes(
    fake_llm: Script, fake_llm_factory: Callable[[], Script], make_router: Callable[..., Router]
) -> None:
    clock = Clock()
    backup = fake_llm_factory()
    primary = target(fake_llm)
    router = make_router(
        [[primary], [target(backup)]], breaker_failures=2, breaker_cooldown_s=60, max_attempts=2, clock=clock
    )
    fake_llm.fail(500, times=2)
    for _ in range(2):
        assert (await router.complete(HELLO)).text == "ok"  # answered by the backup
    state = router.stats()["targets"][primary.label]
    assert (state["state"], state["consecutive_failures"], state["times_opened"]) == ("open", 2, 1)

    await router.complete(HELLO)  # open: the primary is skipped, not called
    assert len(fake_llm.requests) == 2
    assert router.stats()["targets"][primary.label]["skipped"] == 1

    clock.advance(61)  # cool-down over: half-open, one probe; it fails and the breaker re-opens
    assert router.stats()["targets"][primary.label]["state"] == "half_open"
    fake_llm.fail(500)
    await router.complete(HELLO)
    assert len(fake_llm.requests) == 3
    assert router.stats()["targets"][primary.label]["state"] == "open"
    assert router.stats()["targets"][primary.label]["times_opened"] == 2

    clock.advance(61)  # the next probe succeeds and closes it
    fake_llm.reply_text("primary is back")
    assert (await router.complete(HELLO)).text == "primary is back"
    state = router.stats()["targets"][primary.label]
    assert (state["state"], state["consecutive_failures"]) == ("closed", 0)
    assert (await router.complete(HELLO)).target == primary.label


async def test_half_open_lets_exactly_one_probe_through(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    clock = Clock()
    t = target(fake_llm)
    router = make_router([[t]], breaker_failures=1, breaker_cooldown_s=10, max_attempts=1, clock=clock)
    fake_llm.fail(500)
    with pytest.raises(LLMUnavailableError):
        await router.complete(HELLO)
    clock.advance(10)
    fake_llm.hang(0.3, then=None)  # the probe is in flight while a second call arrives

    import asyncio

    probe = asyncio.create_task(router.complete(HELLO))
    await asyncio.sleep(0.1)
    with pytest.raises(LLMUnavailableError, match="circuit open"):
        await router.complete(HELLO)
    assert (await probe).text == "ok"
    assert router.stats()["targets"][t.label]["state"] == "closed"


async def test_all_targets_failing_raises_llm_unavailable_naming_each(
    fake_llm: Script, fake_llm_factory: Callable[[], Script], make_router: Callable[..., Router]
) -> None:
    other = fake_llm_factory()
    fake_llm.fail(500, message="primary exploded")
    other.fail(401, message="bad key")
    dead = Target("vllm", "served", dead_url())
    a, b = target(fake_llm, model="a"), target(other, model="b")
    router = make_router([[a], [b, dead]], max_attempts=3)
    with pytest.raises(LLMUnavailableError) as info:
        await router.complete(HELLO)
    error = info.value
    assert isinstance(error, BackendUnavailableError) and error.status_code == 503
    assert error.code == "llm_unavailable"
    assert [f["target"] for f in error.failures] == [a.label, b.label, dead.label]
    for needle in ("primary exploded", "HTTP 401", "bad key", "connection failed", a.label, dead.label):
        assert needle in error.message
    assert error.to_dict()["details"]["failures"] == error.failures


async def test_attempts_left_unused_are_reported(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    dead1, dead2 = Target("custom", "x", dead_url()), Target("custom", "y", dead_url())
    router = make_router([[dead1], [dead2]], max_attempts=1)
    with pytest.raises(LLMUnavailableError) as info:
        await router.complete(HELLO)
    assert info.value.failures[1]["error"].endswith("not tried (all 1 attempts used)")


async def test_the_api_key_never_appears_in_errors_stats_or_logs(
    fake_llm: Script, make_router: Callable[..., Router], caplog: pytest.LogCaptureFixture
) -> None:
    fake_llm.fail(401, message=f"Incorrect API key provided: {KEY}", times=3)
    t = target(fake_llm)
    assert KEY not in repr(t) and KEY not in t.label
    router = make_router([[t]])
    with caplog.at_level(logging.DEBUG, logger="memoryd.llm"), pytest.raises(LLMUnavailableError) as info:
        await router.complete(HELLO)
    assert "Incorrect API key provided: ***" in info.value.message
    for text in (info.value.message, str(info.value.to_dict()), str(router.stats()), caplog.text):
        assert KEY not in text
    assert "HTTP 401" in caplog.text


async def test_run_is_generic_and_an_output_rejection_falls_back_without_tripping_the_breaker(
    fake_llm: Script, fake_llm_factory: Callable[[], Script], make_router: Callable[..., Router]
) -> None:
    backup = fake_llm_factory()
    first, second = target(fake_llm), target(backup, model="other")
    router = make_router([[first, second]], breaker_failures=1)
    seen: list[str] = []

    async def fn(t: Target) -> str:
        seen.append(t.label)
        if t is router.targets[0]:
            raise LLMOutputError("I do not like this answer", target=t.label)
        async with httpx.AsyncClient() as client:  # a raw request, as a gateway would forward one
            response = await client.get(f"{backup.base_url}/models")
        return str(response.json()["data"][0]["id"])

    assert await router.run(fn) == "fake-model"
    assert seen == [first.label, second.label]
    stats = router.stats()["targets"][first.label]
    assert (stats["rejected"], stats["failures"], stats["state"]) == (1, 0, "closed")


async def test_run_translates_transport_errors_and_lets_other_exceptions_through(
    make_router: Callable[..., Router],
) -> None:
    t = Target("custom", "x", dead_url())
    router = make_router([[t]], max_attempts=1)

    async def raw_call(target: Target) -> None:  # a raw request on the router's client, as the gateway's
        await router.http.post(f"{target.base_url}/chat/completions", {}, headers={}, timeout_s=5)

    with pytest.raises(LLMUnavailableError, match="connection failed"):
        await router.run(raw_call)

    async def caller_bug(target: Target) -> None:
        raise InvalidInputError("not the LLM's fault", field="messages")

    with pytest.raises(InvalidInputError):
        await router.run(caller_bug)
    assert router.stats()["targets"][t.label]["state"] == "closed"


async def test_run_with_its_own_timeout(fake_llm: Script, make_router: Callable[..., Router]) -> None:
    t = target(fake_llm, timeout_s=0.2)
    router = make_router([[t]], max_attempts=1)

    async def slow(target: Target) -> None:
        import asyncio

        await asyncio.sleep(5)

    with pytest.raises(LLMUnavailableError, match="no answer within 0.2 s"):
        await router.run(slow)


def test_router_needs_a_target_and_known_providers() -> None:
    from memoryd.errors import ConfigError

    with pytest.raises(ConfigError, match="at least one target"):
        Router([[]])
    with pytest.raises(ConfigError, match="unknown LLM provider 'nope'"):
        Router([[Target("nope", "m", "http://x")]])


async def test_identical_targets_get_distinct_labels(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    t = target(fake_llm)
    router = make_router([[t], [t]])
    labels = [x.label for x in router.targets]
    assert labels == [t.label, f"{t.label}#2"] and set(router.stats()["targets"]) == set(labels)


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("custom", {"choices": [{"message": "hello"}]}),
        ("custom", {"choices": [{"message": ["hi"]}]}),
        ("gemini", {"candidates": [{"content": "hi"}]}),
    ],  # a reply whose token counts alone are wrong is kept (tests/llm/test_usage_counts.py)
    ids=[
        "message-a-string",
        "message-a-list",
        "gemini-content",
    ],
)
async def test_a_reply_of_the_wrong_shape_fails_over_to_the_next_tier(
    fake_llm: Script,
    fake_llm_factory: Callable[[], Script],
    make_router: Callable[..., Router],
    provider: str,
    body: dict[str, object],
) -> None:
    good = fake_llm_factory()
    fake_llm.reply_body(body, times=3)
    good.reply_text("answer from tier two")
    bad = target(fake_llm, provider)
    router = make_router([[bad], [target(good, model="backup")]])
    out = await router.complete(HELLO)
    assert out.text == "answer from tier two" and out.target == router.tiers[1][0].label
    stats = router.stats()["targets"][bad.label]
    assert stats["failures"] >= 1 and f"{bad.label}: a malformed reply (" in stats["last_error"]


@pytest.mark.parametrize("status", [400, 413, 422])
async def test_refused_requests_never_open_the_breaker(
    fake_llm: Script, make_router: Callable[..., Router], status: int
) -> None:
    too_long = "This model's maximum context length is 8192 tokens. However, you requested 20000 tokens."
    fake_llm.fail(status, message=too_long, times=3)
    t = target(fake_llm)
    router = make_router([[t]], breaker_failures=3, breaker_cooldown_s=30)
    for _ in range(3):
        with pytest.raises(LLMUnavailableError, match="maximum context length"):
            await router.complete([{"role": "user", "content": "x" * 50_000}])
    stats = router.stats()["targets"][t.label]
    assert (stats["state"], stats["consecutive_failures"], stats["failures"]) == ("closed", 0, 0)
    assert stats["bad_requests"] == 3 and "maximum context length" in stats["last_error"]
    assert (await router.complete(HELLO)).text == "ok"  # a valid request still goes through
    assert len(fake_llm.requests) == 4


async def test_a_refused_key_still_counts_against_the_breaker_even_as_a_400(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.fail(400, message="API key not valid. Please pass a valid API key.", times=2)
    t = target(fake_llm)
    router = make_router([[t]], breaker_failures=2)
    for _ in range(2):
        with pytest.raises(LLMUnavailableError):
            await router.complete(HELLO)
    stats = router.stats()["targets"][t.label]
    assert (stats["state"], stats["failures"], stats["bad_requests"]) == ("open", 2, 0)


async def test_the_userinfo_of_base_url_never_appears_in_labels_errors_stats_or_logs(
    make_router: Callable[..., Router], caplog: pytest.LogCaptureFixture
) -> None:
    password = "Sup3rS3cretPw"
    host = dead_url().removeprefix("http://").removesuffix("/v1")
    t = Target("custom", "m", f"http://proxyuser:{password}@{host}/v1", timeout_s=2)
    assert t.label == f"custom:m@{host}"
    router = make_router([[t]], max_attempts=1)
    with caplog.at_level(logging.DEBUG, logger="memoryd.llm"), pytest.raises(LLMUnavailableError) as info:
        await router.complete(HELLO)
    stats = router.stats()
    assert list(stats["targets"]) == [f"custom:m@{host}"]
    assert stats["targets"][t.label]["base_url"] == f"http://proxyuser:***@{host}/v1"
    for text in (info.value.message, str(info.value.to_dict()), str(stats), caplog.text):
        assert password not in text and "proxyuser:" not in text.replace("proxyuser:***", "")


def test_a_targets_repr_masks_the_password_of_base_url_and_leaves_out_the_key() -> None:
    import dataclasses

    from memoryd.llm.types import Target

    target = Target("openai", "m", "http://proxyuser:Sup3rS3cret@host/v1", api_key="sk-secret")
    shown = repr(target)
    assert "Sup3rS3cret" not in shown and "sk-secret" not in shown and "proxyuser:***@host" in shown
    named = {f.name for f in dataclasses.fields(Target)} - {"api_key"}
    assert {part.split("=")[0] for part in shown[len("Target(") : -1].split(", ")} == named  # none forgotten


async def test_a_429_for_a_spent_quota_counts_against_the_breaker(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    """A busy target is no failure, but one out of quota will not answer however long one waits."""
    fake_llm.fail(429, message="You exceeded your current quota, please check your plan", times=3)
    t = target(fake_llm)
    router = make_router([[t]], max_attempts=3, breaker_failures=3, backoff_s=0.01)
    for _ in range(3):
        with pytest.raises(LLMUnavailableError) as failed:
            await router.complete(HELLO)
        assert not failed.value.rate_limited  # a 503 to a gateway client, not "try again soon"
    assert len(fake_llm.requests) == 3  # one a call: waiting does not bring quota back
    stats = router.stats()["targets"][t.label]
    assert (stats["failures"], stats["rate_limited"], stats["state"]) == (3, 0, "open")
