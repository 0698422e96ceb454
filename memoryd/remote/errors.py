"""An error answer of a memoryd server, raised again as the class the embedded API raises.

The body ``{"error": {"code", "message", "field"?, "details"?}}`` names the class by its
``code``: the map is built from the exception tree itself (every class under
:class:`MemorydError` that sets a ``code`` of its own), never copied by hand. A code no class
has (``invalid_json``, ``method_not_allowed``, a newer server's) maps by HTTP status to the most
general class of that status, keeping the server's ``code`` on the instance. ``Retry-After`` is
kept as ``retry_after`` (seconds: in ``details`` and as an attribute); ``field`` is the core's path
(:func:`core_field`). A server that cannot be
reached (refused, reset, timed out) is a :class:`BackendUnavailableError` naming its URL.
A 404 naming no ``field`` (no such route: base_url is not the server's root) is a
:class:`ConfigError` naming ``base_url``, never a :class:`NotFoundError`: every memoryd 404 names
what it did not find.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

import httpx

from memoryd.errors import (
    BackendUnavailableError,
    ConfigError,
    InvalidFilterError,
    InvalidInputError,
    MemorydError,
    NotFoundError,
)

__all__ = ["core_field", "error_class", "from_response", "retry_after", "unreachable"]


def _tree(root: type[MemorydError]) -> list[type[MemorydError]]:
    """``root`` and every subclass, parents before children."""
    out = [root]
    for sub in root.__subclasses__():
        out += _tree(sub)
    return out


@functools.cache
def _by_code() -> dict[str, type[MemorydError]]:
    # only a class that sets its own code: QueueUnavailableError answers as its parent's code
    return {cls.code: cls for cls in _tree(MemorydError) if "code" in vars(cls)}


@functools.cache
def _by_status() -> dict[int, type[MemorydError]]:
    found: dict[int, type[MemorydError]] = {400: InvalidInputError}  # a body the server could not read
    for cls in _tree(MemorydError):  # parents first: the most general class of each status
        found.setdefault(cls.status_code, cls)
    return found


def error_class(code: str | None, status: int) -> type[MemorydError]:
    """The class of memoryd's tree that answers with ``code`` (else: of ``status``)."""
    if code is not None and code in _by_code():
        return _by_code()[code]
    if status >= 500 and status not in _by_status():
        return BackendUnavailableError  # a proxy's 502 or 504: the server is not there
    return _by_status().get(status, MemorydError)


_MESSAGE_INDEX = re.compile(r"^messages\.(\d+)(?=\.|$)")


def core_field(field: str | None) -> str | None:
    """A field path as the embedded API names it. The server dots every path
    (:func:`memoryd.server.errors.field_path`: ``messages[0].content`` → ``messages.0.content``);
    the core dots all but a message's index, which goes back in brackets."""
    return None if field is None else _MESSAGE_INDEX.sub(r"messages[\1]", field)


def retry_after(response: httpx.Response) -> float | None:
    """The answer's ``Retry-After`` in seconds, if it gives one as a number (memoryd does)."""
    value = response.headers.get("retry-after")
    try:
        seconds = None if value is None else float(value)
    except ValueError:
        return None  # an HTTP date: not sent by memoryd
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def _build(cls: type[MemorydError], message: str, field: str | None, details: dict[str, Any]) -> MemorydError:
    """An instance of ``cls`` as the server had it: ``message``, ``field`` and ``details``; each
    detail also as an attribute (``retry_after_s``, ``failures``, ``extra``...), as the classes whose
    constructor takes it set it."""
    try:
        exc = cls(message, field=field, **details)
    except TypeError:  # a class with a constructor of its own (RateLimitedError, LLMError...)
        exc = cls.__new__(cls)
        MemorydError.__init__(exc, message, field=field)
        for key, value in details.items():
            if key.isidentifier() and not hasattr(exc, key):
                setattr(exc, key, value)
    exc.message, exc.field, exc.details = message, field, dict(details)
    return exc


def from_response(response: httpx.Response) -> MemorydError:
    """The exception an error response of a memoryd server stands for."""
    status, url = response.status_code, str(response.request.url)
    try:
        body = response.json()
        error = body["error"]
        code, message = str(error["code"]), str(error["message"])
        field = core_field(error.get("field"))
        details = dict(error.get("details") or {})
    except (ValueError, KeyError, TypeError):  # not memoryd's error shape: a proxy's page, say
        code, field, details = None, None, {"status": status}
        message = f"{response.request.method} {url} answered {status} {response.reason_phrase}"
    cls = error_class(code, status)
    if cls is NotFoundError and field is None:  # every memoryd 404 names what it did not find
        said = f"{response.request.method} {url} answered 404" + (f" ({message})" if code else "")
        why = "base_url leads to no memoryd route; it is the server's root, such as http://127.0.0.1:8420"
        return ConfigError(f"{said}: {why}", field="base_url", url=url, status=status)
    if cls is InvalidInputError and (field or "").partition(".")[0] == "filters":
        # a filter the request check refused before the core read it (nested past the body's depth
        # limit): an InvalidFilterError, as the embedded API says of any filter it cannot take
        cls, code = InvalidFilterError, None
    wait = retry_after(response)
    if wait is not None:
        details.setdefault("retry_after", wait)
    exc = _build(cls, message, field, details)
    if wait is not None and getattr(exc, "retry_after", None) is None:
        setattr(exc, "retry_after", wait)  # noqa: B010 (an attribute only some classes declare)
    if code is not None and code != cls.code:
        exc.code = code  # the server's own word for it, when no class has that code
    return exc


def unreachable(base_url: str, exc: httpx.TransportError) -> BackendUnavailableError:
    """A server that did not answer: refused, reset, timed out, or its name not found; or no
    connection of the client's own pool came free in time (the server was never asked)."""
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.PoolTimeout):
        return BackendUnavailableError(
            f"no connection to the memoryd server at {base_url} came free in time: this client's "
            f"connection pool is busy with other calls (the request was not sent): {reason}",
            url=base_url,
            reason=type(exc).__name__,
        )
    what = "did not answer in time" if isinstance(exc, httpx.TimeoutException) else "is unreachable"
    return BackendUnavailableError(
        f"the memoryd server at {base_url} {what}: {reason}", url=base_url, reason=type(exc).__name__
    )
