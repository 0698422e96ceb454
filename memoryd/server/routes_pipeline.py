"""Routes of the async pipeline: an event's status, and Prometheus metrics.

- ``GET /v1/events/{event_id}``: queued, processing, done (with the add results),
  failed (a retry is scheduled; the error and ``retry_at``) or dead_lettered (the
  error and the DLQ entry id; once ``memoryd dlq purge`` deleted that entry, no entry
  id and the error ``dlq_purged``, its cause under ``cause``: an add again under the
  id is then a new event). One the synchronous path applied (Redis unreachable,
  ``on_unavailable = "sync"``) is done with ``"pipeline": "bypassed"`` and no result
  (the store keeps none) while Redis does not answer (one the store knows that this server did
  not apply so, a worker's before Redis went down say, is done with no ``pipeline``: the store
  does not record the path); once it does, its own record
  alone answers (an erased user's events are unknown). 404 for an unknown or expired
  id (asked without ``?user_id=`` by a key bound to no user, it says that an event a
  user-bound key queued is found with ``?user_id=``, whether or not the id names one), 501
  when the pipeline is off, 503 (``Retry-After: 5``) when Redis is unreachable (and the store
  does not know the id) or refuses pipeline.redis_url's password or database. The caller's
  tenant store is opened
  only when it is asked (Redis unreachable): a lookup Redis answers, or one with the pipeline
  off, opens (and makes) no store.
- ``GET /metrics``: Prometheus text: stream length, lag, pending, DLQ size,
  processing rate, event counters and this server's submissions.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse

from memoryd import __version__
from memoryd.errors import NotFoundError, NotSupportedError
from memoryd.memory import AsyncMemory
from memoryd.pipeline.metrics import CONTENT_TYPE, MetricsText, pipeline_metrics
from memoryd.server.health import PipelineDep, get_memory
from memoryd.server.responses import EventReply, answers
from memoryd.server.routes_v1 import ERROR_RESPONSES
from memoryd.server.schemas import EventQuery

__all__ = ["router"]

router = APIRouter(tags=["pipeline"], responses=ERROR_RESPONSES)

EventId = Annotated[str, Path(description="The event's id, as returned by the add that queued it.")]


@router.get("/v1/events/{event_id}", summary="An event's status and result", **answers(EventReply))
async def event(
    event_id: EventId,
    pipeline: PipelineDep,
    request: Request,
    query: Annotated[EventQuery, Query()],
) -> dict[str, Any]:
    """Where a queued add is: queued, processing, done (with ``result``), failed (retrying) or
    dead_lettered (with ``error``); done with ``pipeline`` bypassed (no ``result``) for one applied
    synchronously while Redis was unreachable."""
    if pipeline is None:
        raise NotSupportedError(
            "the async pipeline is off (pipeline.enabled / MEMORYD_ASYNC_PIPELINE): adds are processed "
            "synchronously and have no event to look up",
            field="event_id",
        )
    async def memory() -> AsyncMemory:  # only while Redis is unreachable: a GET opens no store
        return await get_memory(request)

    try:
        return (await pipeline.event(event_id, user_id=query.user_id, memory=memory)).to_dict()
    except NotFoundError as exc:
        if query.user_id is None and pipeline.principal.user_id is None:
            # Said on every such 404, found or not, so it tells nothing of any user's events; a
            # user-bound key always looks among its own user's, and is never told it.
            exc.add_to_message(_OF_A_USER)
        raise


_OF_A_USER = (
    "the ids a user-bound key gives are its user's own: such an event is found with "
    "?user_id=<that user>"
)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4"}},
)
async def metrics(pipeline: PipelineDep) -> PlainTextResponse:
    """Queue length, lag, pending, DLQ size, processing rate and event counters, in Prometheus text."""
    out = MetricsText()
    out.add("memoryd_info", "gauge", "memoryd's version.", 1, {"version": __version__})
    if pipeline is None:
        pipeline_metrics(out, enabled=False, redis_up=False, stats=None, submissions={})
    else:
        await pipeline.metrics(out)
    return PlainTextResponse(out.render(), media_type=CONTENT_TYPE)
