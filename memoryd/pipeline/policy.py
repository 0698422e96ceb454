"""Retry policy, pure: which failures are worth another attempt, and how long to wait.

- Transient: a backend that is down or timing out (:class:`BackendUnavailableError`
  and its subclasses: storage, embedder, LLM) and any unexpected exception (a
  bug may be fixed by the next deploy). Retried with exponential backoff, then
  dead-lettered after ``pipeline.max_attempts``.
- Permanent: every other :class:`MemorydError` — bad input, an unsupported mode,
  a conflict with the store, an unreadable event. Retrying cannot help: straight
  to the dead-letter stream, to be replayed after a fix.

A store that refuses writes for the machine's reason (a full disk, a read-only file or mount, an
I/O error: :func:`refuses_writes`) is an outage, like a store that does not answer: the event waits
and uses up no attempt (:func:`~memoryd.pipeline.outcomes.waits`).

The boundary between acknowledging and dead-lettering is therefore: an event is
acknowledged once its outcome is recorded (done, scheduled for retry, or copied
to the dead-letter stream), never before.
"""

from __future__ import annotations

import random
from typing import Any

from memoryd.errors import BackendUnavailableError, MemorydError, StorageError

__all__ = ["backoff_ms", "error_info", "is_transient", "refuses_writes"]


def is_transient(exc: BaseException) -> bool:
    """Whether another attempt might succeed."""
    if isinstance(exc, BackendUnavailableError):
        return True
    return not isinstance(exc, MemorydError)


def refuses_writes(exc: BaseException) -> bool:
    """Whether ``exc`` is a store refusing writes for the machine's reason, not the write's (its
    backend's translation says so: ``details["refuses_writes"]``)."""
    return isinstance(exc, StorageError) and bool(exc.details.get("refuses_writes"))


def error_info(exc: BaseException, **extra: Any) -> dict[str, Any]:
    """The JSON form of an error kept with the event (status record, dead letter)."""
    if isinstance(exc, MemorydError):
        info: dict[str, Any] = {"code": exc.code, "message": exc.message, "type": type(exc).__name__}
        if exc.field is not None:
            info["field"] = exc.field
    else:
        name = type(exc).__name__
        info = {"code": "internal_error", "message": str(exc) or name, "type": name}
    info["transient"] = is_transient(exc)
    info.update(extra)
    return info


def backoff_ms(attempt: int, base_ms: int, max_ms: int, rng: random.Random | None = None) -> int:
    """Delay before the attempt after ``attempt`` (1-based): base, 2x base, 4x base, ... up to max,
    each within ±10% so that events failing together do not come back together."""
    delay = min(max_ms, base_ms * 2 ** max(0, attempt - 1))
    jitter = (rng or random).uniform(0.9, 1.1)
    return int(min(max_ms, delay * jitter))
