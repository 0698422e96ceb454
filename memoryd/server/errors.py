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

``/mcp`` speaks JSON-RPC 2.0: what refuses a request there before the MCP session reads it (a
body that is not UTF-8, over the size limit or over the server's room for bodies, a path or query
that is not UTF-8, a wrong method, an unexpected failure) answers a JSON-RPC error with a null
``id`` (:func:`jsonrpc_error`: -32700 parse error for a body that is not UTF-8, -32600 invalid
request for the other refusals, -32603 / -32000 for the server's own failures), its HTTP status
kept and memoryd's ``code``, ``field`` and ``details`` in the error's ``data``; an MCP client reads
it as it reads the session's own errors. So do refusals of the caller (a missing or revoked key: 401
with its ``WWW-Authenticate``; a forbidden Origin or Host: 403; an unknown tenant: 404; a rate
limit: 429 with its ``Retry-After``): the HTTP status and headers stay, as MCP's authorization and
Streamable HTTP transport ask (a client reacts to a 401 by the status), and the body is a -32600
error whose ``data.code`` names the reason (``unauthorized``, ``forbidden``, ``not_found``,
``rate_limited``); its ``id`` is the request's when the refusal came after the body was read.

The chat gateway's OpenAI routes (:data:`OPENAI_PATHS`) answer in OpenAI's shape instead,
``{"error": {"message", "type", "param", "code"}}``, so that an OpenAI SDK pointed at them reads
every refusal, the auth middleware's 401 and 429, the body limit's 413, a wrong method's 405 and
an unknown path's 404 included, as it reads OpenAI's own (:func:`error_for` picks the shape by
path). So do
the other paths of OpenAI's API (:data:`OPENAI_RESOURCES`: ``/v1/embeddings``, ``/v1/responses``,
...), which the gateway does not serve: their 404 says so, where an app that points all of an
OpenAI client at memoryd's base URL looks first.
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
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memoryd.errors import MemorydError
from memoryd.ingest.inputs import TOO_LONG_NUMBER
from memoryd.server.error_view import shown_to

__all__ = [
    "OPENAI_PATHS",
    "OPENAI_RESOURCES",
    "TOO_LONG_NUMBER",
    "CatchAllMiddleware",
    "error_for",
    "error_response",
    "field_path",
    "install_error_handlers",
    "jsonrpc_error",
    "memoryd_error_response",
    "openai_error",
    "speaks_jsonrpc",
    "speaks_openai",
]

# Routes that speak OpenAI's API (memoryd/gateway/routes.py), the path itself or under it.
OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")
# The rest of OpenAI's API (``/v1/<resource>...``): not served, but refused in OpenAI's shape.
# None is a path of memoryd's own API (/v1/memories, /v1/events, /v1/users, ...).
OPENAI_RESOURCES = frozenset(
    {
        "assistants", "audio", "batches", "chat", "completions", "containers", "conversations",
        "edits", "embeddings", "engines", "evals", "files", "fine-tunes", "fine_tuning", "images",
        "moderations", "organization", "realtime", "responses", "threads", "uploads", "vector_stores",
    }
)  # fmt: skip
_SERVED = "memoryd's chat gateway serves POST /v1/chat/completions and GET /v1/models of OpenAI's API"
# OpenAI's error ``type`` for a status; any other 4xx is an invalid request, a 5xx a server error.
_OPENAI_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}

log = logging.getLogger("memoryd.server")

_LOCATIONS = ("body", "query", "path", "header", "cookie")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _named(field: str | None, details: dict[str, Any] | None) -> dict[str, Any]:
    """An error's ``field`` and ``details``, each only when it has one."""
    return {
        **({"field": field} if field is not None else {}),
        **({"details": details} if details else {}),
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
    error: dict[str, Any] = {"code": code, "message": message, **_named(field, details)}
    return JSONResponse({"error": error}, status_code=status, headers=dict(headers) if headers else None)


def field_path(field: str | None) -> str | None:
    """``messages[0].content`` → ``messages.0.content``."""
    return None if field is None else re.sub(r"\[(\d+)\]", r".\1", field)


def _loc_path(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or "body"


def openai_error(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An error in OpenAI's shape (memoryd's ``details`` go alongside, under their own names)."""
    error = {"message": message, "type": type, "param": param, "code": code, **extra}
    return JSONResponse({"error": error}, status_code=status, headers=dict(headers or {}))


def speaks_openai(path: str) -> bool:
    """Whether ``path`` is answered in OpenAI's error shape: a gateway route, or another path of
    OpenAI's API (:data:`OPENAI_RESOURCES`)."""
    if any(path == p or path.startswith(p + "/") for p in OPENAI_PATHS):
        return True
    parts = path.split("/", 3)
    return len(parts) > 2 and parts[1] == "v1" and parts[2] in OPENAI_RESOURCES


MCP_PATH = "/mcp"  # the MCP Streamable HTTP endpoint (memoryd/server/routes_mcp.py)
# JSON-RPC 2.0's error codes (those of memoryd/mcp/protocol.py, and the server errors'):
# -32000 is the first of the range JSON-RPC leaves to the server's own errors.
_PARSE_ERROR, _INVALID_REQUEST, _INTERNAL_ERROR, _SERVER_ERROR = -32700, -32600, -32603, -32000
_UNPARSED = frozenset({"invalid_body", "invalid_json"})  # memoryd's codes of a body that is no JSON


def speaks_jsonrpc(path: str) -> bool:
    """Whether ``path`` is answered in JSON-RPC 2.0 (``/mcp``, with or without a trailing slash)."""
    return path.rstrip("/") == MCP_PATH


def jsonrpc_error(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    request_id: Any = None,
) -> JSONResponse:
    """A refusal of an MCP request as a JSON-RPC 2.0 error, its ``id`` null unless the request was
    read (``request_id``): -32700 for a body that is not JSON text, -32600 for another refusal of
    the request or of its caller, -32603 for an unexpected failure, -32000 for a server that cannot
    take it now (503). The HTTP status stays; memoryd's ``code``, ``field`` and ``details`` go in
    the error's ``data``."""
    if code in _UNPARSED:
        rpc_code = _PARSE_ERROR
    elif status < 500:
        rpc_code = _INVALID_REQUEST
    else:
        rpc_code = _INTERNAL_ERROR if status == 500 else _SERVER_ERROR
    data: dict[str, Any] = {"code": code, **_named(field, details)}
    error = {"code": rpc_code, "message": message, "data": data}
    body = {"jsonrpc": "2.0", "id": request_id, "error": error}
    return JSONResponse(body, status_code=status, headers=dict(headers) if headers else None)


def _openai_type(status: int) -> str:
    return _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def error_for(
    path: str,
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An error in the shape ``path`` speaks: OpenAI's on :func:`speaks_openai` paths (``field`` as
    its ``param``, ``details`` beside the four members), JSON-RPC's on ``/mcp``
    (:func:`jsonrpc_error`), else memoryd's own."""
    if speaks_jsonrpc(path):
        return jsonrpc_error(status, code, message, field=field, details=details, headers=headers)
    if speaks_openai(path):
        return openai_error(
            status, message, type=_openai_type(status), param=field, code=code, headers=headers,
            **(details or {}),
        )  # fmt: skip
    return error_response(status, code, message, field=field, details=details, headers=headers)


def internal_error(
    method: str, path: str, exc: BaseException, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The 500 of an unexpected exception: a generic message with an incident id, the traceback
    logged under that id (the server's catch-all, and the chat gateway's once it looked memories up)."""
    incident = uuid.uuid4().hex[:12]
    log.error("unexpected error in %s %s (incident %s)", method, path, incident, exc_info=exc)
    message = f"internal server error (incident {incident}); the server log has the details"
    return error_for(path, 500, "internal_error", message, details={"incident": incident}, headers=headers)


async def _memoryd_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MemorydError)
    if exc.status_code >= 500:
        log.warning("%s %s failed: %s: %s", request.method, request.url.path, exc.code, exc.message)
    return memoryd_error_response(exc, request.url.path, scope=request.scope)


def memoryd_error_response(
    exc: MemorydError, path: str = "", request_id: Any = None, *, scope: Scope | None = None
) -> JSONResponse:
    """The response for one of memoryd's errors: its status, body and headers (in OpenAI's shape
    on the paths of OpenAI's API: :func:`speaks_openai`; a JSON-RPC error on ``/mcp``, answering
    ``request_id`` when the request was read: :func:`jsonrpc_error`). ``scope``: the request's,
    whose caller reads the error as :func:`~memoryd.server.error_view.shown_to` says (no server
    file path unless an admin; a tenant's repair naming ``--tenant``)."""
    message, details = shown_to(exc, scope)
    if speaks_jsonrpc(path):
        return jsonrpc_error(
            exc.status_code, exc.code, message, field=field_path(exc.field),
            details=details, headers=exc.http_headers() or None, request_id=request_id,
        )  # fmt: skip
    if speaks_openai(path):
        status = exc.status_code
        return openai_error(
            status, message, type=_openai_type(status), param=field_path(exc.field), code=exc.code,
            headers=exc.http_headers() or None,
        )  # fmt: skip
    return error_response(
        exc.status_code,
        exc.code,
        message,
        field=field_path(exc.field),
        details=details,
        headers=exc.http_headers() or None,
    )


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
    path = request.url.path
    openai = speaks_openai(path)
    allowed = ", ".join(_allowed_methods(request)) if status == 405 else ""
    code = _HTTP_CODES.get(status, f"http_{status}")
    if status == 404 and openai:
        message = f"{_SERVED}, not {request.method} {path}: send that to the vendor's own base URL"
        code = "unsupported_endpoint"
    elif status == 404:
        message = f"no route {request.method} {path}"
    elif status == 405 and openai:
        message = f"{request.method} {path} is not served: {path} answers {allowed}"
    elif status == 400 and exc.detail == "There was an error parsing the body":
        message = _unreadable_body(exc.__cause__)
    else:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
    field = "body" if status == 400 else None  # FastAPI's only 400: a body it could not read
    headers = {**(exc.headers or {}), "Allow": allowed} if status == 405 else exc.headers
    return error_for(path, status, code, message, field=field, headers=headers)


def _unreadable_body(cause: BaseException | None) -> str:
    """Why FastAPI could not read a JSON body that is valid text (it says only that it could not)."""
    if isinstance(cause, RecursionError):
        return "the request body nests too deeply to be read"
    if isinstance(cause, ValueError) and "digits" in str(cause):  # Python's cap on an integer's digits
        return f"the request body could not be read: it holds {TOO_LONG_NUMBER}"
    return "the request body could not be read"


def _allowed_methods(request: Request) -> list[str]:
    """The methods of this path (Starlette's 405 names only the first route's): those the OpenAPI
    document gives its most specific path template (``/v1/memories/list`` over
    ``/v1/memories/{memory_id}``), else those of any route serving the path."""
    path = request.scope.get("path", "")
    best: tuple[int, set[str]] | None = None
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = "[^/]+".join(re.escape(part) for part in re.split(r"\{[^/}]+\}", template))
        if re.fullmatch(pattern, path) and (best is None or template.count("{") < best[0]):
            best = (template.count("{"), {m.upper() for m in operations})
    if best is not None:
        return [m for m in _METHODS if m in best[1]]  # no HEAD: the routes do not answer it
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


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
        started = gone = False

        async def tracked_send(message: Message) -> None:
            nonlocal started, gone
            started = started or message["type"] == "http.response.start"
            try:
                await send(message)
            except OSError:  # an ASGI 2.4 server's word that the client has left
                gone = True
                raise

        try:
            await self.app(scope, receive, tracked_send)
        except Exception as exc:
            if gone:  # nobody to answer, and no fault of the server's
                log.debug("the client of %s %s left before its answer", scope["method"], scope["path"])
                return
            response = internal_error(scope["method"], scope["path"], exc)  # logged with its incident
            if started:
                raise
            await response(scope, receive, send)
