"""memoryd's one exception tree.

Every error memoryd raises on purpose derives from :class:`MemorydError`, and
each class knows the HTTP status the REST server answers with::

    MemorydError (500)
    ├── ConfigError (500)                 bad or unknown setting, missing extra
    │   └── MissingExtraError (500)       an optional backend's pip extra is absent
    ├── InvalidInputError (422)           a field of a request is wrong; names it
    │   ├── InvalidFilterError (422)      a malformed filter expression
    │   └── PayloadTooLargeError (413)    a body, message or list over its limit
    ├── AuthenticationError (401)         no API key, or one that is unknown or revoked
    ├── PermissionDeniedError (403)       the key's role may not do this
    ├── NotFoundError (404)               an id or scope that does not exist (or not yours)
    ├── ConflictError (409)               the store disagrees with the request
    │   ├── EmbedderMismatchError (409)   the store was built with another model
    │   └── EventAppliedError (409)       a pipeline event's add is in the store already
    ├── RateLimitedError (429)            the key is over its request rate; retry later
    ├── NotSupportedError (501)           a feature reserved for a later release
    └── BackendUnavailableError (503)     a storage engine or model is down
        ├── StorageError (503)            a backend failed while serving a call
        ├── LLMError (503)                one LLM target failed one call (router-internal)
        │   ├── LLMTimeoutError (503)     it did not answer within its timeout
        │   └── LLMOutputError (503)      it answered, but the output was unusable
        ├── LLMUnavailableError (503)     no LLM target answered; lists each failure
        └── QueueUnavailableError (503)   the event queue is down and adds are refused

Driver errors (sqlite3, httpx, ...) are translated into this tree at the
backend boundary, so callers never need to import a driver to catch them.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "AuthenticationError",
    "BackendUnavailableError",
    "ConfigError",
    "ConflictError",
    "EmbedderMismatchError",
    "EventAppliedError",
    "InvalidFilterError",
    "InvalidInputError",
    "LLMError",
    "LLMOutputError",
    "LLMTimeoutError",
    "LLMUnavailableError",
    "MemorydError",
    "MissingExtraError",
    "NotFoundError",
    "NotSupportedError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "QueueUnavailableError",
    "RateLimitedError",
    "StorageError",
]


class MemorydError(Exception):
    """Root of every error memoryd raises on purpose."""

    status_code: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def http_headers(self) -> dict[str, str]:
        """Extra HTTP response headers this error calls for (``Retry-After``, ...)."""
        return {}

    def add_to_message(self, more: str) -> None:
        """Say ``more`` after the message (for a caller raising this same error on, with what
        it knows of the error's consequence); its class, field and details are kept."""
        self.message = f"{self.message}; {more}"
        self.args = (self.message,)

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body the REST server sends."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return body


class ConfigError(MemorydError):
    """A setting is unknown, misspelled or has a value outside what is allowed."""

    code = "config_error"


class MissingExtraError(ConfigError):
    """An optional backend was chosen but its pip extra is not installed."""

    code = "missing_extra"

    def __init__(self, extra: str, what: str) -> None:
        super().__init__(f"{what} needs the '{extra}' extra: pip install 'memoryd[{extra}]'", extra=extra)
        self.extra = extra


class InvalidInputError(MemorydError):
    """A request field is missing, of the wrong type or out of range."""

    status_code = 422
    code = "invalid_input"


class InvalidFilterError(InvalidInputError):
    """A filter expression cannot be parsed."""

    code = "invalid_filter"


class PayloadTooLargeError(InvalidInputError):
    """A body, a message or a list is longer than the configured limit."""

    status_code = 413
    code = "payload_too_large"


class AuthenticationError(MemorydError):
    """The request has no API key, or one that is malformed, unknown or revoked."""

    status_code = 401
    code = "unauthorized"

    def http_headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="memoryd"'}


class PermissionDeniedError(MemorydError):
    """The key is valid but its role may not call this (e.g. a ``user`` key managing keys)."""

    status_code = 403
    code = "forbidden"


class RateLimitedError(MemorydError):
    """The key sent more requests than its rate allows; ``retry_after_s`` says when to retry."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message, retry_after_s=round(retry_after_s, 3))
        self.retry_after_s = retry_after_s

    def http_headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(self.retry_after_s)))}


class NotFoundError(MemorydError):
    """No memory (or scope) with that id is visible to the caller."""

    status_code = 404
    code = "not_found"


class ConflictError(MemorydError):
    """The stored state conflicts with the request."""

    status_code = 409
    code = "conflict"


class EmbedderMismatchError(ConflictError):
    """The store's vectors were made by another embedding model or dimension."""

    code = "embedder_mismatch"


class EventAppliedError(ConflictError):
    """A write carrying an async-pipeline event id found that event applied already (another
    worker's delivery of it, or the synchronous path's): nothing of this write was stored."""

    code = "event_applied"


class EventErasedError(ConflictError):
    """A write carrying an async-pipeline event found the event's user erased after the event
    was made (``delete_user`` while it was queued or running): nothing of this write was stored."""

    code = "event_erased"


class NotSupportedError(MemorydError):
    """The feature exists in the API but is not available in this release or config."""

    status_code = 501
    code = "not_supported"


class BackendUnavailableError(MemorydError):
    """A storage engine, embedder or model cannot be reached right now. ``details.retry_after``
    (seconds), when the dependency said how long to wait (an embeddings server's 429 with
    ``Retry-After``), is sent on as the 503's ``Retry-After``."""

    status_code = 503
    code = "backend_unavailable"

    def http_headers(self) -> dict[str, str]:
        wait = self.details.get("retry_after")
        if isinstance(wait, (int, float)) and not isinstance(wait, bool) and math.isfinite(wait) and wait > 0:
            return {"Retry-After": str(max(1, math.ceil(wait)))}
        return {}


class StorageError(BackendUnavailableError):
    """A storage backend failed while serving a call (driver error translated)."""

    code = "storage_error"


class StaleWriteError(StorageError):
    """A write changing a stored memory found it deleted by another writer since it was read:
    nothing of the write was stored. Transient: the same request again plans from what is there."""

    code = "stale_write"

    def http_headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}  # at once is fine: the retry reads what is there now


class QueueUnavailableError(BackendUnavailableError):
    """The async pipeline's event queue is unreachable and ``pipeline.on_unavailable`` is
    ``"reject"``: the add was not processed; the same add again, with the same ``event_id`` (never
    applied twice), is what it asks for, after ``Retry-After`` (:attr:`retry_after_s`: a Redis
    restarting is back in a few seconds). ``reason``: why the queue is unreachable."""

    retry_after_s = 5

    def __init__(self, message: str, *, reason: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.reason = reason

    def http_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class LLMError(BackendUnavailableError):
    """One LLM target failed one call: connection, HTTP status, timeout or a malformed reply.

    Raised by the LLM clients and handled by the router, which falls back to the
    next target; callers of the router only ever see :class:`LLMUnavailableError`.
    ``transient`` errors (timeouts, connection errors, 429, 5xx) may succeed if
    tried again; ``retry_after`` is the delay the vendor asked for, in seconds.
    """

    code = "llm_error"

    def __init__(
        self,
        message: str,
        *,
        target: str | None = None,
        status: int | None = None,
        transient: bool = True,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, target=target, status=status)
        self.target = target
        self.status = status
        self.transient = transient
        self.retry_after = retry_after


class LLMTimeoutError(LLMError):
    """An LLM target did not answer within its timeout."""

    code = "llm_timeout"


class LLMOutputError(LLMError):
    """A target answered, but its output was rejected (raise it from a router callback to fall back).

    It never counts against the target's circuit breaker: the target is up.
    """

    code = "llm_bad_output"

    def __init__(self, message: str, *, target: str | None = None) -> None:
        super().__init__(message, target=target, transient=False)


class LLMUnavailableError(BackendUnavailableError):
    """No LLM target answered a call; ``failures`` names each target and why it failed, ``causes``
    holds each target's last :class:`LLMError` (its HTTP ``status``, whether ``transient``), by
    target label, for those that failed (or whose open breaker a failure had opened)."""

    code = "llm_unavailable"

    def __init__(
        self,
        message: str,
        failures: list[dict[str, str]] | None = None,
        *,
        rate_limited: bool = False,
        retry_after: float | None = None,
        causes: dict[str, LLMError] | None = None,
    ) -> None:
        super().__init__(message, failures=failures or [])
        self.failures = failures or []
        self.rate_limited = rate_limited  # every target that failed asked to wait (429)
        self.retry_after = retry_after  # the soonest a target may be tried again, in seconds
        self.causes = causes or {}

    def http_headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}
