"""What becomes of one event the worker could not simply store: the :class:`Outcome` it records.

Each function builds one outcome and logs the line that says why:

- :func:`failed`: a retry after exponential backoff (a transient error, attempts left), else
  :func:`dead` (see :mod:`.policy`);
- :func:`waits`: a retry that uses up no attempt, the store being down (no failure of the event's);
- :func:`dead`: a dead letter, with the error that put it there;
- :func:`conflict`: a dead letter for an event whose id names another add now;
- :func:`gave_up`: a dead letter for an event delivered more than ``pipeline.max_attempts`` times;
- :func:`skipped`: done with nothing stored (the store had it already, or its user was erased),
  saying why (:data:`ERASED`, :data:`APPLIED`).

No I/O: :class:`~memoryd.pipeline.worker.Worker` records what these return.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from memoryd.config import PipelineConfig
from memoryd.errors import ConflictError, MemorydError
from memoryd.pipeline.base import Delivery, Outcome
from memoryd.pipeline.batching import Job
from memoryd.pipeline.events import PipelineEvent
from memoryd.pipeline.policy import backoff_ms, error_info, is_transient
from memoryd.wording import counted

__all__ = ["APPLIED", "ERASED", "conflict", "dead", "failed", "gave_up", "skipped", "waits"]

log = logging.getLogger("memoryd.pipeline")

ERASED = "its user (or a scope holding it: delete_all) was deleted, or the store reset, after it was queued"
APPLIED = (
    "it was applied to the store already (by another delivery of it, or processed synchronously while "
    "the queue did not answer): nothing was stored again"
)


def gave_up(job: Job, max_attempts: int) -> Outcome:
    """Dead-lettered: delivered over ``max_attempts`` times without an outcome."""
    d = job.delivery
    exc = MemorydError(
        f"delivered {d.deliveries} times without an outcome (the workers holding it died or "
        f"stalled); attempt {job.attempts} is over pipeline.max_attempts ({max_attempts})"
    )
    return dead(d, job.event.event_id, exc, job.attempts)


def conflict(d: Delivery, event: PipelineEvent, attempts: int) -> Outcome:
    """Dead-lettered, not dropped: the event's id names another add now (its status record keeps
    that add's digest: the id was reused after this event's status expired), so this delivery
    is neither that add nor a duplicate of it. Its status record, the other add's, is left alone."""
    exc = ConflictError(
        f"event id {event.event_id!r} names another add now (its body or user differs from this "
        "event's): not processed, so as not to be taken for it; replay this dead letter once that "
        "event's status has expired, or add it again under an id of its own",
        field="event_id",
    )
    return replace(dead(d, event.event_id, exc, attempts), event_id=None)


def skipped(job: Job, why: str) -> Outcome:
    """Done with nothing stored (the store had it already, or its user was erased), saying why."""
    event_id = job.event.event_id
    log.info("event %s: nothing stored: %s", event_id, why)
    result = {"results": [], "skipped": why}
    return Outcome("done", job.delivery, event_id=event_id, result=result, attempts=job.attempts)


def failed(job: Job, exc: BaseException, config: PipelineConfig) -> Outcome:
    """A retry after backoff if ``exc`` is transient and attempts are left; else a dead letter."""
    if not is_transient(exc) or job.attempts >= config.max_attempts:
        return dead(job.delivery, job.event.event_id, exc, job.attempts)
    delay = backoff_ms(job.attempts, config.backoff_base_ms, config.backoff_max_ms)
    error = error_info(exc, attempt=job.attempts)
    log.warning(
        "event %s: attempt %d failed (%s); retrying in %.1f s",
        job.event.event_id, job.attempts, error["message"], delay / 1000,
    )  # fmt: skip
    return Outcome(
        "retry",
        job.delivery,
        event_id=job.event.event_id,
        event=job.event.retried(error, job.attempts + 1),
        delay_ms=delay,
        error=error,
        attempts=job.attempts,
    )


def waits(job: Job, exc: BaseException, config: PipelineConfig) -> Outcome:
    """A retry that uses up no attempt: the store did not answer (an outage, not the event's own
    failure), so the event comes back as the same attempt. It waits as a retry would, longer each
    time in a row (how many: ``outages`` in its error, carried in the event's ``last_error``)."""
    before = (job.event.last_error or {}).get("outages")
    outages = before + 1 if isinstance(before, int) and before > 0 else 1
    delay = backoff_ms(outages, config.backoff_base_ms, config.backoff_max_ms)
    error = error_info(exc, attempt=job.attempts, outages=outages)
    log.warning(
        "event %s: the store is unavailable (%s); attempt %d waits %.1f s (no attempt used up)",
        job.event.event_id, error["message"], job.attempts, delay / 1000,
    )  # fmt: skip
    return Outcome(
        "retry",
        job.delivery,
        event_id=job.event.event_id,
        event=job.event.retried(error, job.attempts),
        delay_ms=delay,
        error=error,
        attempts=job.attempts,
    )


def dead(d: Delivery, event_id: str | None, exc: BaseException, attempts: int) -> Outcome:
    """A dead letter carrying ``exc``."""
    error = error_info(exc, attempt=attempts)
    where = event_id or d.stream_id
    tries = counted(attempts, "attempt", "attempts")
    log.warning("event %s: dead-lettered after %s: %s", where, tries, error["message"])
    return Outcome("dead", d, event_id=event_id, error=error, attempts=attempts)
