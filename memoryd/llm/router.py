"""The tiered LLM router: ordered tiers of targets, fallback, retries and circuit breakers.

A call goes to the first target (tier by tier, in order) whose breaker lets
it through. It moves on to the next target on a timeout, a connection error,
an HTTP error (429 and 5xx are transient), a malformed reply, or an answer the
caller rejects by raising :class:`~memoryd.errors.LLMOutputError`. Neither a
rejected answer nor a refused request (HTTP 400, 413, 422: a context too long,
say; the request's fault) counts against the target's circuit breaker: the
target answered. Nor does a 429: a target that asks to wait is up, and a
burst of them must not shut it out for a whole cool-down after it recovered.
When every target has been tried and attempts remain,
transient failures are tried again after a short back-off, or after the
``Retry-After`` the vendor asked for when that fits in ``max_wait_s``.
``max_attempts`` bounds the attempts of one call; when none succeeds the call
raises :class:`~memoryd.errors.LLMUnavailableError` naming each target's failure,
with ``rate_limited`` when every target that failed asked to wait (429),
``retry_after``, the soonest any target said it may be tried again (its
``Retry-After``, or the end of its breaker's cool-down), and ``causes``, each
target's last :class:`~memoryd.errors.LLMError` (for one whose breaker was open,
the failure that opened it), so a caller can tell a refused key from an outage.

The loop is generic: :meth:`Router.run` takes ``fn(target) -> awaitable``, so
structured output, plain completions and a raw forwarding gateway (with
``timeout=False`` and its own first-byte timeout, falling back only before the
first byte is sent on) share it; a caller may pass over targets unfit for one
call (``unfit``) before any attempt. Everything runs on one event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

from memoryd.errors import ConfigError, LLMError, LLMOutputError, LLMUnavailableError
from memoryd.llm.anthropic_client import AnthropicChat
from memoryd.llm.breaker import Breaker, TargetStats
from memoryd.llm.gemini_client import GeminiChat
from memoryd.llm.http import LLMRequestError, translate_errors
from memoryd.llm.openai_client import OpenAIChat
from memoryd.llm.providers import vendor
from memoryd.llm.replies import transport
from memoryd.llm.types import ChatRequest, Completion, Message, Target, Usage
from memoryd.redact import mask_url
from memoryd.wording import counted

if TYPE_CHECKING:
    from memoryd.llm.transport import HTTPClient

__all__ = ["ChatClient", "Router", "quota_spent"]

T = TypeVar("T")
log = logging.getLogger("memoryd.llm")


class ChatClient(Protocol):
    """One wire format: send a request to a target, return its completion (errors translated)."""

    async def complete(self, http: HTTPClient, target: Target, request: ChatRequest) -> Completion: ...


def _unique(tiers: Sequence[Sequence[Target]]) -> list[list[Target]]:
    seen: dict[str, int] = {}
    out: list[list[Target]] = []
    for tier in tiers:
        row = []
        for target in tier:
            label = target.label
            seen[label] = seen.get(label, 0) + 1
            row.append(
                target if seen[label] == 1 else dataclasses.replace(target, name=f"{label}#{seen[label]}")
            )
        out.append(row)
    return out


class Router:
    """Sends LLM calls to the first healthy target of ordered tiers. Use ``async with``."""

    def __init__(
        self,
        tiers: Sequence[Sequence[Target]],
        *,
        max_attempts: int = 3,
        breaker_failures: int = 3,
        breaker_cooldown_s: float = 30.0,
        max_wait_s: float = 10.0,
        backoff_s: float = 0.25,
        http: HTTPClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tiers = _unique([list(t) for t in tiers if t])
        if not self.tiers:
            raise ConfigError("the LLM router needs at least one target", field="llm.tiers")
        self.targets = [t for tier in self.tiers for t in tier]
        for target in self.targets:
            vendor(target.provider)  # unknown providers fail here, not on the first call
        self.max_attempts = max(1, max_attempts)
        self.max_wait_s = max_wait_s
        self.backoff_s = backoff_s
        self._breakers = {t.label: Breaker(breaker_failures, breaker_cooldown_s, clock) for t in self.targets}
        self._stats = {t.label: TargetStats() for t in self.targets}
        self._tripped: dict[str, LLMError] = {}  # each target's last failure counted by its breaker
        self._http = http
        self._own_http = http is None
        self._clients: dict[str, ChatClient] = {
            "openai": OpenAIChat(),
            "anthropic": AnthropicChat(),
            "gemini": GeminiChat(),
        }

    # -- life cycle ----------------------------------------------------------
    @property
    def http(self) -> HTTPClient:
        """The one HTTP client every target shares (its connections made on first use), made (and
        aiohttp imported) when a request is first sent."""
        if self._http is None:
            self._http = transport().HTTPClient()
        return self._http

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- calls -----------------------------------------------------------------
    async def complete(
        self,
        messages: Sequence[Message],
        *,
        json: bool = False,
        schema: dict[str, Any] | None = None,
        schema_name: str = "answer",
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """One chat completion through the tiers (with fallback); any non-error answer is accepted."""
        request = ChatRequest(list(messages), json, schema, schema_name, max_tokens, temperature)
        return await self.run(lambda target: self.call(target, request), timeout=False)

    async def call(self, target: Target, request: ChatRequest) -> Completion:
        """One call to one target, cut off after its ``timeout_s``, no fallback (use inside
        :meth:`run`); its tokens are counted."""
        client = self._clients[vendor(target.provider).wire]
        with translate_errors(target):
            async with asyncio.timeout(target.timeout_s):
                completion = await client.complete(self.http, target, request)
        self.record_usage(target, completion.usage)
        return completion

    def record_usage(self, target: Target, usage: Usage) -> None:
        """Count tokens a target used (:meth:`call` does; a gateway forwarding raw calls should)."""
        stats = self._stats[target.label]
        stats.tokens_in += usage.prompt_tokens
        stats.tokens_out += usage.completion_tokens

    async def run(
        self,
        fn: Callable[[Target], Awaitable[T]],
        *,
        timeout: bool = True,
        targets: Sequence[Target] | None = None,
        deferred: bool = False,
        unfit: Callable[[Target], str | None] | None = None,
    ) -> T:
        """``await fn(target)`` on the first target that succeeds, with fallback and retries.

        ``fn`` raises :class:`LLMError` (or lets transport errors escape) to fail over;
        :class:`LLMOutputError` to reject an answer. With ``timeout`` each attempt
        is cut off after the target's ``timeout_s``. Other exceptions propagate.
        ``targets`` (some of this router's own, in the order to try) replaces the
        tier order for this call: the gateway routes a model to its own targets first.
        ``deferred``: what ``fn`` returns is not yet the answer (a stream that has only
        begun); its target counts as up at once (a half-open breaker closes, so other calls
        go through while a long stream runs), and the verdict on the answer comes later,
        through :meth:`settle` or :meth:`release`.
        ``unfit``: why a target is not to be sent this call at all (``None``: it may be); such a
        target is passed over with that reason among the failures, with no attempt and no
        verdict on it (its breaker and counters untouched).
        """
        order = self.targets if targets is None else list(targets)
        unknown = [t.label for t in order if t.label not in self._breakers]
        if unknown or not order:
            raise ValueError(f"not targets of this router: {unknown or 'none given'}")
        failures: dict[str, str] = {}
        causes: dict[str, LLMError] = {}  # each target's last failure in this call
        failed: set[str] = set()  # targets an attempt of this call went to and failed
        limited: set[str] = set()  # those of them whose last failure was a 429
        waits: list[float] = []  # when a target said it may be tried again, in seconds
        finished: set[str] = set()  # targets not to try again within this call
        not_before: dict[str, float] = {}
        for target in order:
            reason = unfit(target) if unfit is not None else None
            if reason is not None:
                failures[target.label] = reason
                finished.add(target.label)
        attempts = 0
        last_failed: str | None = None
        for round_no in range(self.max_attempts):
            tried = False
            for target in order:
                label = target.label
                if label in finished or attempts >= self.max_attempts:
                    continue
                wait = not_before.get(label, 0.0) - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                breaker = self._breakers[label]
                if not breaker.allow():
                    tripped = self._tripped.get(label)
                    if tripped is not None:
                        causes.setdefault(label, tripped)
                    self._stats[label].skipped += 1
                    waits.append(breaker.retry_in())
                    why = f"circuit open after {breaker.consecutive} consecutive failures"
                    # found open: the failure that opened it is said too (what is wrong, not only that)
                    last = f"; last error: {tripped.message.removeprefix(f'{label}: ')}" if tripped else ""
                    failures[label] = (
                        f"{failures[label]} (then the {why})"
                        if label in failures
                        else f"{label}: {why} (next probe in {breaker.retry_in():.1f} s{last})"
                    )
                    finished.add(label)
                    continue
                if last_failed is not None and last_failed != label:
                    self._stats[last_failed].fallbacks += 1
                attempts += 1
                tried = True
                try:
                    result = await self._attempt(target, fn, timeout, deferred)
                except LLMError as exc:
                    failures[label] = exc.message
                    causes[label] = exc
                    last_failed = label
                    failed.add(label)
                    (limited.add if _asks_to_wait(exc) else limited.discard)(label)
                    if exc.retry_after is not None:
                        waits.append(exc.retry_after)
                    spent = exc.status == 429 and not _asks_to_wait(exc)  # out of quota: no retry helps
                    if not exc.transient or spent or (exc.retry_after or 0.0) > self.max_wait_s:
                        finished.add(label)
                        if exc.transient and not spent and exc.retry_after is not None:  # why not retried
                            failures[label] += (
                                f" (asked to wait {exc.retry_after:g} s, longer than llm.max_wait_s, "
                                f"{self.max_wait_s:g} s: not tried again)"
                            )
                    elif exc.retry_after is not None:
                        not_before[label] = time.monotonic() + exc.retry_after
                    continue
                if last_failed is not None and last_failed != label:
                    self._stats[label].rescues += 1
                return result
            left = [t.label for t in order if t.label not in finished]
            if not tried or not left or attempts >= self.max_attempts:
                break
            if not any(label in not_before for label in left):
                await asyncio.sleep(min(self.backoff_s * 2**round_no, self.max_wait_s))
        for target in order:
            failures.setdefault(target.label, f"{target.label}: not tried (all {attempts} attempts used)")
        # A breaker this call's failures opened: the target is not tried again before its cool-down
        # ends, as the next call would be told (the breaker found open).
        opened = (self._breakers[label] for label in failed)
        waits += [breaker.retry_in() for breaker in opened if breaker.state == "open"]
        listed = [{"target": label, "error": failures[label]} for label in (t.label for t in order)]
        summary = "; ".join(item["error"] for item in listed)
        raise LLMUnavailableError(
            f"no LLM target answered ({counted(attempts, 'attempt', 'attempts')}): {summary}",
            listed,
            rate_limited=bool(failed) and limited == failed,
            causes=causes,
            retry_after=min(waits) if waits else None,
        )

    def settle(self, target: Target, error: LLMError | None) -> None:
        """The verdict on a deferred attempt (see :meth:`run`): it answered in full, or it failed
        after all (a stream that broke midway), which counts toward the target's breaker."""
        stats, breaker = self._stats[target.label], self._breakers[target.label]
        if error is None:
            stats.succeeded()
            breaker.success()
            return
        stats.went_wrong()
        stats.last_error, stats.last_error_at = error.message, time.time()
        breaker.failure()
        self._tripped[target.label] = error
        log.warning("LLM stream failed: %s", error.message)

    def release(self, target: Target) -> None:
        """A deferred attempt ended with no verdict (its caller left): let another probe through."""
        self._breakers[target.label].release()

    async def _attempt(
        self, target: Target, fn: Callable[[Target], Awaitable[T]], timeout: bool, deferred: bool = False
    ) -> T:
        label = target.label
        stats, breaker = self._stats[label], self._breakers[label]
        stats.calls += 1
        started = time.perf_counter()
        try:
            with translate_errors(target):
                if timeout:
                    async with asyncio.timeout(target.timeout_s):
                        result = await fn(target)
                else:
                    result = await fn(target)
        except LLMError as exc:
            stats.last_error, stats.last_error_at = exc.message, time.time()
            if isinstance(exc, LLMOutputError):
                stats.went_wrong(unusable=True)
                breaker.success()  # it answered: the target is up
                log.info("LLM answer rejected: %s", exc.message)
            elif isinstance(exc, LLMRequestError):
                stats.bad_requests += 1
                breaker.success()  # it answered, refusing this request (too long, say): the target is up
                log.warning("LLM request refused: %s", exc.message)
            elif _asks_to_wait(exc):
                stats.rate_limited += 1
                breaker.release()  # up, asking to wait: no verdict (a probe lets the next one through)
                log.info("LLM call rate-limited: %s", exc.message)
            else:
                stats.went_wrong()
                breaker.failure()
                self._tripped[label] = exc
                log.warning("LLM call failed: %s", exc.message)
            raise
        except BaseException:
            breaker.release()
            raise
        finally:
            stats.latency_last_s = time.perf_counter() - started
            stats.latency_total_s += stats.latency_last_s
        if deferred:
            breaker.answering()  # its first chunk came: up (a probe no longer holds others back)
        else:
            stats.succeeded()
            breaker.success()
        return result

    # -- introspection --------------------------------------------------------
    def unplaced(self, text: str) -> str:
        """``text`` (a failure or a fallback's reason) naming no upstream's address: each target's
        label as its provider and model, each host as "the upstream". What an end user (a
        user-bound API key) is told, as the gateway tells it no upstream's address either."""
        for target in self.targets:
            text = text.replace(target.label, f"{target.provider}:{target.model}")
        for target in self.targets:
            url = urlsplit(target.base_url)
            for host in (url.netloc.rpartition("@")[2], url.hostname):  # host:port, then the name alone
                if host:
                    text = text.replace(host, "the upstream")
        return text

    def stats(self) -> dict[str, Any]:
        """Per-target counters and breaker states, for ``/health``, metrics and ``doctor``."""
        targets: dict[str, Any] = {}
        for number, tier in enumerate(self.tiers, start=1):
            for target in tier:
                breaker = self._breakers[target.label]
                targets[target.label] = {
                    "tier": number,
                    "provider": target.provider,
                    "model": target.model,
                    "base_url": mask_url(target.base_url),
                    "state": breaker.current(),
                    "consecutive_failures": breaker.consecutive,
                    "times_opened": breaker.times_opened,
                    **self._stats[target.label].to_dict(),
                }
        return {
            "tiers": [[t.label for t in tier] for tier in self.tiers],
            "max_attempts": self.max_attempts,
            "targets": targets,
        }


def _asks_to_wait(exc: LLMError) -> bool:
    """A 429 that asks to wait (busy), not one that says the quota is spent (it will not pass)."""
    return exc.status == 429 and not quota_spent(exc)


def quota_spent(exc: LLMError) -> bool:
    """A 429 saying the account's quota is used up (OpenAI: ``insufficient_quota``, "You
    exceeded your current quota, please check your plan and billing details"; no
    ``Retry-After``), not a rate limit that clears in seconds: Gemini's and Azure's rate limits
    mention a quota too ("Resource has been exhausted (e.g. check quota)")."""
    text = exc.message.lower()
    spent = any(mark in text for mark in ("insufficient_quota", "exceeded your current quota", "billing"))
    return exc.status == 429 and exc.retry_after is None and spent
