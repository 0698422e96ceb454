"""The bodies of ``/health``, ``/health/ready`` and ``/health/live``, for the OpenAPI schema only
(see :mod:`memoryd.server.responses` for the conventions: never instantiated, never filtering)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from memoryd.server.responses import Absent

__all__ = ["DependencyCheck", "HealthReply", "LiveReply", "ReadyReply"]

Mode = Literal["FullyOperational", "DegradedReady", "Unavailable"]


class DependencyCheck(BaseModel):
    """One dependency's state; the full report (an admin key, or a local caller in open mode)
    adds its figures: counts, backends, the model, the pipeline's lag, the gateway's targets."""

    model_config = ConfigDict(extra="allow")

    status: str = Field(
        description="ok, error, unavailable, degraded, untested, not loaded, not configured, off, ..."
    )


class HealthReply(BaseModel):
    """``GET /health``: 200 while the service can serve (``ok``, ``degraded``), else 503."""

    status: Literal["ok", "degraded", "unavailable"]
    version: str
    checks: dict[str, DependencyCheck] = Field(
        description="storage, embedder, llm; pipeline and gateway when they are on."
    )
    mode: Mode | Absent = Field(None, description="With the async pipeline or the chat gateway on.")
    reason: str | Absent = Field(None, description="Why it is unavailable, when no check says.")
    elapsed_ms: float | Absent = Field(None, description="How long the checks took.")
    detail: str | Absent = Field(None, description="Said to a caller who gets the statuses only.")


class ReadyReply(BaseModel):
    """``GET /health/ready``: 200 ``ready`` (``mode`` when degraded), 503 ``unavailable``."""

    status: Literal["ready", "unavailable"]
    mode: Mode | Absent = None
    reason: str | Absent = Field(None, description="Why it is not ready.")


class LiveReply(BaseModel):
    """``GET /health/live``: the process answers."""

    status: Literal["ok"]
