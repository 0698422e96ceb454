"""HTTP error translation: every failure leaves as ``{"error": {"code", "message", "field"?}}``.

- :class:`~memoryd.errors.MemorydError` → its own ``status_code`` and ``to_dict()``.
- FastAPI's ``RequestValidationError`` → 422 (400 for a body that is not JSON),
  ``field`` naming the offending path without its ``body``/``query`` prefix
  (``messages.0.content``, ``limit``).
- Starlette's ``HTTPException`` (unknown route, wrong method) → its status.
- Anything else → 500 with a generic message and an incident id; the traceback
  goes to the log only, so nothing internal (paths, settings, secrets) leaks.

Field paths are dotted everywhere: the core's ``messages[0].content`` becomes
``messages.0.content``.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memoryd.errors import MemorydError

__all__ = ["CatchAllMiddleware", "error_response", "field_path", "install_error_handlers"]

log = logging.getLogger("memoryd.server")

_LOCATIONS = ("body", "query", "path", "header", "cookie")
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The one error body shape."""
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status, headers=dict(headers) if headers else None)


def field_path(field: str | None) -> str | None:
    """``messages[0].content`` → ``messages.0.content``."""
    return None if field is None else re.sub(r"\[(\d+)\]", r".\1", field)


def _loc_path(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _memoryd_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MemorydError)
    if exc.status_code >= 500:
        log.warning("%s %s failed: %s: %s", request.method, request.url.path, exc.code, exc.message)
    body = exc.to_dict()
    field = field_path(exc.field)
    return error_response(exc.status_code, exc.code, exc.message, field=field, details=body.get("details"))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = [dict(e) for e in exc.errors()]
    first: dict[str, Any] = errors[0] if errors else {"type": "invalid", "loc": ("body",), "msg": "invalid"}
    if first.get("type") == "json_invalid":
        ctx: dict[str, Any] = first.get("ctx") or {}
        reason = ctx.get("error", "malformed JSON")
        return error_response(400, "invalid_json", f"request body is not valid JSON: {reason}", field="body")
    field = _loc_path(first.get("loc", ()))
    if field == "body" and first.get("type") in ("model_attributes_type", "dict_type", "model_type"):
        message = "the request body must be a JSON object (send Content-Type: application/json)"
    elif first.get("type") == "missing":
        message = f"{field} is required"
    else:
        message = f"{field}: {first.get('msg', 'invalid value')}"
    listed = [
        {"field": _loc_path(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
        for e in errors
    ]
    return error_response(422, "invalid_input", message, field=field, details={"errors": listed})


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status == 404:
        message = f"no route {request.method} {request.url.path}"
    else:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
    field = "body" if status == 400 else None  # FastAPI's only 400: a body it could not read
    return error_response(
        status, _HTTP_CODES.get(status, f"http_{status}"), message, field=field, headers=exc.headers
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MemorydError, _memoryd_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(CatchAllMiddleware)


class CatchAllMiddleware:
    """Answer any unexpected exception with a generic 500 and log its traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception:
            incident = uuid.uuid4().hex[:12]
            log.exception("unexpected error in %s %s (incident %s)", scope["method"], scope["path"], incident)
            if started:
                raise
            response = error_response(
                500,
                "internal_error",
                f"internal server error (incident {incident}); the server log has the details",
                details={"incident": incident},
            )
            await response(scope, receive, send)
