"""The server's memory and its health: liveness, readiness and the full report.

:class:`ServerState` holds the :class:`AsyncMemory` the routes share and whether
it is ready (opened by the lifespan, not yet closing). Routes get the memory
through :data:`MemoryDep`, which answers 503 while the server is starting or
stopping — so no request can reopen a store that is shutting down.

- ``GET /health/live``: the process answers; no I/O.
- ``GET /health/ready``: 200 once the memory is open and storage answers, else 503.
- ``GET /health``: the core's report (storage, embedder, LLM, and the async pipeline when it
  is on); 503 when a dependency is down.

With the async pipeline on, ``mode`` says how the service runs: ``FullyOperational``,
or ``DegradedReady`` — still serving (200), but Redis is unreachable (adds are
processed synchronously, or refused with ``pipeline.on_unavailable = "reject"``)
or no worker is alive; ``checks.pipeline`` says which, with the stream's lag,
pending count, DLQ size and processing rate.

With the chat gateway configured, ``checks.gateway`` reports its upstream tiers
(breakers, counters), whether the last memory lookup worked, and its write-backs;
``mode`` is then always given. The service is ``DegradedReady`` (200) when every
upstream's circuit is open (memory routes still work) or when the store is down
(chat is still answered, without memory), and ``Unavailable`` (503) when both are.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from memoryd import __version__
from memoryd.config import Settings
from memoryd.errors import BackendUnavailableError, MemorydError
from memoryd.memory import AsyncMemory
from memoryd.pipeline import Pipeline
from memoryd.server.access import PipelineView, memory_for, principal_of
from memoryd.server.auth import TENANT_HEADER, Authenticator, Local, _headers, presented_key
from memoryd.server.responses import answers
from memoryd.server.responses_health import HealthReply, LiveReply, ReadyReply
from memoryd.tenancy import Tenants

__all__ = [
    "AddingMemoryDep",
    "MemoryDep",
    "PipelineDep",
    "ServerState",
    "get_memory",
    "get_memory_to_add",
    "get_pipeline",
    "router",
    "state_of",
]

PROBE_TIMEOUT_S = 5.0


class GatewayHealth(Protocol):
    """What ``/health`` asks of the chat gateway."""

    def health(self) -> dict[str, Any]: ...


@dataclass
class ServerState:
    """What the lifespan sets up: the shared memory and its readiness."""

    settings: Settings
    memory: AsyncMemory | None = None
    owns_memory: bool = False
    ready: bool = False
    startup_error: BaseException | None = None
    pipeline: Pipeline | None = None  # the async pipeline's producer, when pipeline.enabled
    auth: Authenticator | None = None  # API keys; set by the lifespan
    tenants: Tenants | None = None  # every tenant's store; the default one is ``memory``
    gateway: GatewayHealth | None = None  # the chat gateway (memoryd.gateway.Gateway)


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.memoryd
    return state


async def get_memory(request: Request) -> AsyncMemory:
    """The caller's memory (its tenant's store; bound to its user for a user key), or 503 while
    the server starts or stops; 404 for a tenant without a store."""
    return await _memory(request, create=False)


async def get_memory_to_add(request: Request) -> AsyncMemory:
    """:func:`get_memory`, making the tenant's store when it has none (the routes that add)."""
    return await _memory(request, create=True)


async def _memory(request: Request, *, create: bool) -> AsyncMemory:
    state = state_of(request)
    if not state.ready or state.memory is None or state.tenants is None:
        raise BackendUnavailableError("memoryd is starting or shutting down; retry shortly")
    return await memory_for(request, state.tenants, create=create)


MemoryDep = Annotated[AsyncMemory, Depends(get_memory)]
AddingMemoryDep = Annotated[AsyncMemory, Depends(get_memory_to_add)]


async def get_pipeline(request: Request) -> PipelineView | None:
    """The async pipeline as the caller sees it, or ``None`` when it is off (adds are synchronous).

    A coroutine so FastAPI calls it on the loop: a plain ``def`` dependency costs a thread hop."""
    state = state_of(request)
    router = state.memory.router if state.memory is not None else None
    return None if state.pipeline is None else PipelineView(state.pipeline, principal_of(request), router)


PipelineDep = Annotated[PipelineView | None, Depends(get_pipeline)]

router = APIRouter(prefix="/health", tags=["health"])


async def _report(state: ServerState) -> dict[str, Any]:
    if not state.ready or state.memory is None:
        return {"status": "unavailable", "reason": "starting or shutting down", "checks": {}}
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            report = _with_llm(await state.memory.health())
            if state.pipeline is not None:
                report = await _with_pipeline(report, state.pipeline)
            if state.gateway is not None:
                report = _with_gateway(report, state.gateway.health())
            return report
    except TimeoutError:
        reason = f"storage did not answer within {PROBE_TIMEOUT_S} s"
    except Exception as exc:  # noqa: BLE001 - a probe reports failures, it does not raise them
        reason = f"health check failed: {type(exc).__name__}"
    return {"status": "unavailable", "reason": reason, "checks": {}}


def _with_llm(report: dict[str, Any]) -> dict[str, Any]:
    """An LLM that fails or answers unusably (fine-mode adds stored as in fast mode meanwhile)
    degrades the server, as a degraded pipeline or gateway does; it never makes it unavailable."""
    if report["status"] == "ok" and report.get("checks", {}).get("llm", {}).get("status") == "degraded":
        report["status"], report["mode"] = "degraded", "DegradedReady"
    return report


async def _with_pipeline(report: dict[str, Any], pipeline: Pipeline) -> dict[str, Any]:
    check = await pipeline.health()
    if report["status"] == "ok" and check["status"] != "ok":
        report["status"] = "degraded"
    modes = {"ok": "FullyOperational", "degraded": "DegradedReady"}
    report["mode"] = modes.get(report["status"], "Unavailable")
    report["checks"]["pipeline"] = check
    return report


def _with_gateway(report: dict[str, Any], check: dict[str, Any]) -> dict[str, Any]:
    report["checks"]["gateway"] = check
    if check["status"] in ("off", "not configured"):
        return report
    chat_up = check["status"] != "unavailable"
    if report["status"] == "unavailable" and chat_up and report.get("checks", {}).get("storage"):
        report["status"] = "degraded"  # the store is down, but chat is answered without memory
    elif report["status"] == "ok" and check["status"] != "ok":
        report["status"] = "degraded"
    modes = {"ok": "FullyOperational", "degraded": "DegradedReady"}
    report["mode"] = modes.get(report["status"], "Unavailable")
    return report


_SUMMARY_KEYS = ("status", "mode", "reason", "elapsed_ms")


async def _full_report_allowed(request: Request, state: ServerState) -> bool:
    """The figures (counts, paths, LLM endpoints, last errors) go to an admin key, or, when keys
    are not required, to this machine's programs (open mode's rule: :class:`Local`); others,
    probes included, get each dependency's status only."""
    auth = state.auth
    if auth is None:  # not started, or stopping: no key can be read, so no caller is known
        return False
    # The middleware's reading of the headers: two different Authorization lines (a proxy's admin
    # key before the client's) are no admin's, whichever comes first
    headers, twice = _headers(request.scope)
    try:  # open mode's caller is an admin only when it is local, as every route's is
        local = Local.of(request.scope, headers, twice)
        principal = await auth.principal(
            presented_key(headers, twice),
            twice.get(TENANT_HEADER, headers.get(TENANT_HEADER)),
            local,
        )
    except MemorydError:
        return False
    return principal.is_admin


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    out = {k: report[k] for k in _SUMMARY_KEYS if k in report}
    checks = report.get("checks", {})
    out["checks"] = {name: {"status": check.get("status")} for name, check in checks.items()}
    out["detail"] = "each dependency's status only: send an admin API key for the full report"
    return out


def _unavailable(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return {503: {"description": "A dependency the service needs is down (the body says which and why)",
                  "model": model}}  # fmt: skip


@router.get("", summary="Health report", **answers(HealthReply, more=_unavailable(HealthReply)))
async def health(request: Request) -> JSONResponse:
    """Each dependency's state. 200 when the service can serve (``ok``, or ``degraded``), 503 otherwise.

    Needs no key; with keys required, only an admin key gets the figures (counts, paths,
    endpoints, errors), others each dependency's status."""
    state = state_of(request)
    report = await _report(state)
    if not await _full_report_allowed(request, state):
        report = _summary(report)
    report = {**report, "version": __version__}
    return JSONResponse(report, status_code=503 if report["status"] == "unavailable" else 200)


@router.get("/live", summary="Liveness probe", **answers(LiveReply))
async def live() -> dict[str, str]:
    """The process is up and serving HTTP. Touches nothing else."""
    return {"status": "ok"}


@router.get("/ready", summary="Readiness probe", **answers(ReadyReply, more=_unavailable(ReadyReply)))
async def ready(request: Request) -> JSONResponse:
    """200 once the memory is open and storage answers; 503 before, during shutdown, or on failure."""
    report = await _report(state_of(request))
    if report["status"] == "ok":
        return JSONResponse({"status": "ready"})
    if report["status"] == "degraded":
        return JSONResponse({"status": "ready", "mode": report.get("mode", "DegradedReady")})
    storage = report.get("checks", {}).get("storage", {})
    reason = report.get("reason") or storage.get("error") or "storage unavailable"
    if storage.get("error") and not await _full_report_allowed(request, state_of(request)):
        reason = "storage unavailable (an admin key gets the error on /health)"  # it may name paths
    return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
