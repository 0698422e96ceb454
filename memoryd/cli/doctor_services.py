"""``memoryd doctor``'s checks of the services memoryd calls over the network: the LLM (one tiny
call to each target of each tier) and the async pipeline's Redis.

They return :class:`~memoryd.cli.doctor_check.Check` records like the other checks, and
:func:`memoryd.cli.doctor.run_doctor` runs them (``memoryd.cli.doctor`` re-exports them).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memoryd.cli.doctor_check import Check, Status
from memoryd.cli.output import counted
from memoryd.errors import ConfigError, LLMError, LLMTimeoutError, MemorydError, MissingExtraError
from memoryd.redact import mask_url

if TYPE_CHECKING:
    from memoryd.config import Settings
    from memoryd.pipeline.redis_health import Findings

__all__ = ["llm_checks", "pipeline_check"]

_LLM_PROBE_TIMEOUT_S = 20.0
_LLM_HOWTO = (
    "no LLM configured: fast mode (each message stored as it is). For fine mode (facts, updates, "
    "graph) set MEMORYD_LLM_BASE_URL, MEMORYD_LLM_API_KEY and MEMORYD_LLM_MODEL, or [llm] in the config"
)


@dataclass(frozen=True)
class _Probe:
    tier: int
    target: Any  # memoryd.llm.Target (imported lazily: doctor stays light without an LLM)
    seconds: float
    answer: Any = None  # the Completion, or None
    error: LLMError | None = None


async def _probe_llm(settings: Settings, env: Mapping[str, str]) -> list[_Probe]:
    """One tiny call to every target of every tier, concurrently, each cut off after 20 s at most."""
    import dataclasses

    from memoryd.llm import ChatRequest, build_router

    router = build_router(settings, env=env)
    assert router is not None
    request = ChatRequest([{"role": "user", "content": "Reply with the single word: ok"}], max_tokens=16)

    async def one(tier: int, target: Any) -> _Probe:
        started = time.perf_counter()
        quick = dataclasses.replace(target, timeout_s=min(target.timeout_s, _LLM_PROBE_TIMEOUT_S))
        try:
            answer = await router.call(quick, request)
        except LLMError as exc:
            return _Probe(tier, target, time.perf_counter() - started, error=exc)
        return _Probe(tier, target, time.perf_counter() - started, answer=answer)

    async with router:
        calls = [one(n, t) for n, tier in enumerate(router.tiers, start=1) for t in tier]
        return list(await asyncio.gather(*calls))


def _waited(target: Any) -> float:
    """How long the probe of ``target`` waited for its answer, in seconds."""
    return float(min(target.timeout_s, _LLM_PROBE_TIMEOUT_S))


def _llm_fix(target: Any, error: LLMError, env: Mapping[str, str]) -> str:
    if isinstance(error, LLMTimeoutError):  # a slow model, mostly: raising the wait is the fix
        cap = _LLM_PROBE_TIMEOUT_S
        most = "" if target.timeout_s <= cap else f"; doctor waits {cap:g} s"
        return (
            f"if the model is slow to answer (large, busy, far), raise llm.timeout_s (now "
            f"{target.timeout_s:g} s{most}); if it never answers, check the server at "
            f"{mask_url(target.base_url)} (llm.base_url)"
        )
    if error.status in (401, 403):
        from memoryd.cli.key_hint import llm_key_fix

        return llm_key_fix(target, env)
    if error.status == 404:
        return f"check llm.model ({target.model!r}) and llm.base_url ({mask_url(target.base_url)})"
    if error.status is None:
        return f"is the server at {mask_url(target.base_url)} running and reachable? (llm.base_url)"
    return f"see the error; llm.base_url is {mask_url(target.base_url)}"


def _what_failed(target: Any, error: LLMError) -> str:
    """What happened to a call, in a few words (the summary of a check that nothing answered)."""
    if isinstance(error, LLMTimeoutError):
        return f"timed out after {_waited(target):g} s"
    if error.status in (401, 403):
        return f"the key was refused (HTTP {error.status})"
    if error.status == 404:
        return "model or URL not found (HTTP 404)"
    if error.status is not None:
        return f"it answered HTTP {error.status}"
    return "the LLM is unreachable"


def llm_checks(settings: Settings, env: Mapping[str, str] | None = None) -> list[Check]:
    """Fast mode when no LLM is configured; otherwise one tiny call to each target of each tier."""
    if not settings.llm.configured:
        return [Check("llm", "ok", _LLM_HOWTO, data={"mode": "fast"})]
    try:
        env = os.environ if env is None else env
        probes = asyncio.run(_probe_llm(settings, env))
    except ConfigError as exc:
        return [Check("llm", "fail", exc.message, f"set {exc.field or 'llm'} (README: LLM providers)")]
    answered = [p.target.label for p in probes if p.error is None]
    checks: list[Check] = []
    for p in probes:
        target = p.target
        data = {
            "tier": p.tier,
            "provider": target.provider,
            "model": target.model,
            "url": mask_url(target.base_url),
        }
        name = f"llm:{target.label}"
        if p.error is not None:
            status: Status = "warn" if answered else "fail"
            fix = _llm_fix(target, p.error, env)
            checks.append(Check(name, status, f"tier {p.tier}: {p.error.message}", fix, data))
        else:
            detail = f"tier {p.tier}: answered in {p.seconds:.2f} s ({p.answer.model})"
            checks.append(Check(name, "ok", detail, data={**data, "seconds": round(p.seconds, 3)}))
    tiers = len({p.tier for p in probes})
    targets, in_tiers = counted(len(probes), "target", "targets"), counted(tiers, "tier", "tiers")
    summary = f"fine mode: {len(answered)} of {targets} in {in_tiers} answered"
    data = {"mode": "fine", "answered": answered}
    if not answered:
        said = list(dict.fromkeys(_what_failed(p.target, p.error) for p in probes if p.error is not None))
        return [Check("llm", "fail", f"{summary}: {'; '.join(said)}", checks[0].fix, data), *checks]
    if len(answered) < len(probes):
        fix = "see the failing targets below; calls fall back to the ones that answered"
        return [Check("llm", "warn", summary, fix, data), *checks]
    return [Check("llm", "ok", summary, data=data), *checks]


def pipeline_check(settings: Settings) -> Check:
    """The async pipeline: off (synchronous adds), or its Redis reachable, keeping what it is given
    (no eviction: fail; no persistence: warn) and not found to have lost its data."""
    cfg = settings.pipeline
    if not cfg.enabled:
        return Check("pipeline", "ok", "off: adds are processed synchronously (pipeline.enabled = false)")

    async def probe() -> Findings:
        from memoryd.pipeline import build_queue
        from memoryd.pipeline.redis_health import inspect

        queue = build_queue(cfg)
        try:
            await queue.ping()
            return await inspect(queue, cfg)
        finally:
            await queue.close()

    fallback = "synchronous adds" if cfg.on_unavailable == "sync" else "503 answers"
    try:
        found = asyncio.run(probe())
    except MissingExtraError as exc:
        return Check("pipeline", "fail", exc.message, f"pip install 'memoryd[{exc.extra}]'")
    except MemorydError as exc:
        from memoryd.pipeline.redis_health import misconfigured, password_refused

        if misconfigured(exc):  # a configuration error, not an outage: the server answers 503
            what = "the password Redis expects" if password_refused(exc) else "a database Redis has"
            fix = f"set {what} in pipeline.redis_url (MEMORYD_PIPELINE__REDIS_URL)"
            return Check("pipeline", "fail", f"{exc.message}; meanwhile the server refuses adds (503)", fix)
        return Check(
            "pipeline",
            "fail",
            f"Redis for the pipeline is unreachable ({exc.message}); meanwhile the server gives {fallback}",
            "start redis-server, or fix pipeline.redis_url (MEMORYD_PIPELINE__REDIS_URL)",
        )
    detail = f"Redis reachable; events go to stream '{cfg.ns}', group '{cfg.group}'"
    data: dict[str, Any] = {"warnings": found.warnings} if found.warnings else {}
    if found.data_lost is not None:
        data["data_lost"] = found.data_lost.to_dict()
    if found.eviction is not None:
        fix = "set maxmemory-policy noeviction (redis.conf or CONFIG SET); the server and workers refuse it"
        return Check("pipeline", "fail", f"{detail}, but {found.eviction}", fix, data)
    if found.problems or found.warnings:
        said = "; ".join([*found.problems, *found.warnings])
        return Check("pipeline", "warn", f"{detail}; {said}", _pipeline_fix(found), data)
    return Check("pipeline", "ok", detail)


def _pipeline_fix(found: Findings) -> str:
    if found.full is not None:
        return "give Redis room: raise maxmemory, or free what fills it (the message above says how)"
    if found.data_lost is not None:
        return "send again the adds queued before the loss, then acknowledge it (the command above)"
    if found.failing is not None:
        return "fix what the dead letters' errors name, then `memoryd dlq replay`"
    return "run Redis with appendonly yes (see the README's Async pipeline)"
