"""memoryd's one exception tree.

Every error memoryd raises on purpose derives from :class:`MemorydError`, and
each class knows the HTTP status the REST server answers with::

    MemorydError (500)
    ├── ConfigError (500)                 bad or unknown setting, missing extra
    │   └── MissingExtraError (500)       an optional backend's pip extra is absent
    ├── InvalidInputError (422)           a field of a request is wrong; names it
    │   ├── InvalidFilterError (422)      a malformed filter expression
    │   └── PayloadTooLargeError (413)    a body, message or list over its limit
    ├── NotFoundError (404)               an id or scope that does not exist
    ├── ConflictError (409)               the store disagrees with the request
    │   └── EmbedderMismatchError (409)   the store was built with another model
    ├── NotSupportedError (501)           a feature reserved for a later release
    └── BackendUnavailableError (503)     a storage engine or model is down
        └── StorageError (503)            a backend failed while serving a call

Driver errors (sqlite3, httpx, ...) are translated into this tree at the
backend boundary, so callers never need to import a driver to catch them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendUnavailableError",
    "ConfigError",
    "ConflictError",
    "EmbedderMismatchError",
    "InvalidFilterError",
    "InvalidInputError",
    "MemorydError",
    "MissingExtraError",
    "NotFoundError",
    "NotSupportedError",
    "PayloadTooLargeError",
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


class NotSupportedError(MemorydError):
    """The feature exists in the API but is not available in this release or config."""

    status_code = 501
    code = "not_supported"


class BackendUnavailableError(MemorydError):
    """A storage engine, embedder or model cannot be reached right now."""

    status_code = 503
    code = "backend_unavailable"


class StorageError(BackendUnavailableError):
    """A storage backend failed while serving a call (driver error translated)."""

    code = "storage_error"
