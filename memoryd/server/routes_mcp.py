"""``/mcp``: the MCP server over the Streamable HTTP transport, for remote agents.

Stateless: each ``POST /mcp`` carries a JSON-RPC message (or, at a revision before 2025-06-18,
which removed them, a batch: a batch at a later one is a ``400``) and gets its answer as one JSON
body: a response for each request that ran; ``202`` with no body only for
notifications (and responses) alone; ``400`` with a JSON-RPC error for a body that is no
message (a message naming a key twice in one object, two ``arguments`` say, included: a
``-32602`` error naming it for a key of its ``params``, else ``-32600``). A body the server refuses
before reading it (not UTF-8, over
``limits.max_body_bytes``) is a JSON-RPC error too (:func:`memoryd.server.errors.jsonrpc_error`).
No session id is issued, so any server process can answer any request. The protocol revision
is the one ``initialize`` negotiates, then the ``MCP-Protocol-Version`` header (2025-03-26
when a client sends none, as the transport specifies). There is no server-to-client stream:
``GET`` is ``405``. The answer is ``application/json``: a POST whose ``Accept`` admits no
``application/json`` is refused with ``406``, and one whose ``Content-Type`` is not
``application/json`` with ``415`` (one sent without a ``Content-Type`` is read as JSON).

A ``notifications/cancelled`` reaches only a request of its own batch, before that request
runs: a read-only one is stopped and not answered (as MCP asks), a write runs all the same and
is answered (MCP lets a cancel that cannot stop a request be ignored, and the client learns
what was stored). A batch whose every request was stopped is answered with a ``-32800``
"request cancelled" error for each, never a bare ``202``: the transport answers input that
holds a request with JSON, and JSON-RPC never answers with an empty array.

The caller is who the API key says (the same keys, roles and tenants as every route):
a ``user`` key binds the tools to its user, and each message of a batch counts against the
key's rate limit as a request would (a batch holds at most :data:`MAX_BATCH`; one of more
calls than the key's, or its tenant's, burst can never fit and is a ``413``, not a ``429``: send
fewer messages per request). A refused caller (401, 403, 404, 429) gets its HTTP status and a
JSON-RPC error
(:func:`memoryd.server.errors.memoryd_error_response`). With the async
pipeline on, ``add_memory``
queues the add like ``POST /v1/memories`` does. A browser page may not call it (DNS rebinding):
a request with an ``Origin`` is refused (``403``) unless its host is loopback or the host the
server is configured to bind (``server.host``, when not a wildcard); one without (no browser)
is served.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from memoryd.errors import MemorydError, NotFoundError, PermissionDeniedError
from memoryd.mcp import PROTOCOL_VERSIONS, McpSession
from memoryd.mcp.protocol import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    REQUEST_CANCELLED,
    encode_message,
    error_message,
    refuse_batch,
)
from memoryd.mcp.tools import Args, Handler, added, scope_of
from memoryd.memory import AsyncMemory
from memoryd.pipeline.events import AddPayload
from memoryd.server.access import PipelineView, principal_of
from memoryd.server.auth import hostname_of, is_loopback
from memoryd.server.error_view import shown_tool_errors
from memoryd.server.errors import jsonrpc_error, memoryd_error_response
from memoryd.server.health import PipelineDep, get_memory, get_memory_to_add, state_of
from memoryd.server.json_body import loads, repeated_key

__all__ = ["router"]

DEFAULT_VERSION = "2025-03-26"  # a client that names none (the transport's rule)
MAX_BATCH = 100  # messages in one batch (each one a call the key's rate limit counts)
_UNREADABLE = object()  # a body that is no JSON
_JSON = "application/json"
_WILDCARD_HOSTS = ("", "0.0.0.0", "::")  # server.host values that name no one host

router = APIRouter(tags=["mcp"])


@router.post(
    "/mcp",
    summary="MCP (Streamable HTTP)",
    responses={
        202: {"description": "Notifications only: no answer"},
        400: {
            "description": "No JSON-RPC message, a batch after 2025-03-26, or an unsupported "
            "MCP-Protocol-Version"
        },
        403: {"description": "Origin refused"},
        406: {"description": "Accept admits no application/json"},
        413: {"description": "A batch of more calls than the key's (or its tenant's) rate-limit burst"},
        415: {"description": "Content-Type is not application/json"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A JSON-RPC 2.0 message, or a batch (array) of them",
            "content": {"application/json": {"schema": {"anyOf": [{"type": "object"}, {"type": "array"}]}}},
        }
    },
)
async def mcp(request: Request, pipeline: PipelineDep) -> Response:
    """One JSON-RPC message or batch of the Model Context Protocol; the memory tools are
    those of ``memoryd mcp`` (see the README's MCP section)."""
    _check_origin(request)
    refused = _check_media(request)
    if refused is not None:
        return refused
    version = request.headers.get("mcp-protocol-version", DEFAULT_VERSION)
    if version not in PROTOCOL_VERSIONS:
        error = f"unsupported MCP-Protocol-Version {version!r}; supported: {', '.join(PROTOCOL_VERSIONS)}"
        return JSONResponse(error_message(None, INVALID_REQUEST, error), status_code=400)
    answers: list[Any] = []

    async def collect(answer: Any) -> None:
        answers.append(answer)

    principal = principal_of(request)
    body = await request.body()
    try:
        message = loads(body)
    except (ValueError, RecursionError):  # not JSON: the session answers it with a parse error
        message = _UNREADABLE
    if message is not _UNREADABLE and (twice := repeated_key(message)) is not None:
        return _ambiguous(message, twice)
    if isinstance(message, list) and (batch_refused := refuse_batch(version)) is not None:
        return JSONResponse(batch_refused, status_code=400)  # before its calls count against the key
    calls = len(message) if isinstance(message, list) else 1
    if calls > MAX_BATCH:
        error = f"a batch of {calls} messages: at most {MAX_BATCH} per request"
        return JSONResponse(error_message(None, INVALID_REQUEST, error), status_code=400)
    auth = getattr(request.app.state.memoryd, "auth", None)
    if calls > 1 and auth is not None and principal.key_id is not None:
        # A batch no wait lets through (more calls than a burst) is a 413 before any call is counted
        for limiter in (auth.limiter,) if principal.is_admin else (auth.limiter, auth.tenant_limiter):
            limiter.check_fits(calls)
        auth.take(principal, calls - 1)  # the request itself paid for one
    try:
        memory = await _memory_for(request, message)
    except MemorydError as exc:  # an unknown tenant, a store that cannot open: answered to the request
        return memoryd_error_response(exc, request.url.path, _id_of(message), scope=request.scope)
    add = _queued_add(pipeline) if pipeline is not None else None
    session = McpSession(memory, collect, user_id=principal.user_id, version=version, add=add, stateless=True)
    if message is _UNREADABLE:
        await session.receive(body)
    else:
        await session.receive_message(message)
    await session.drain()
    if not answers and session.stopped:  # requests, each stopped by a cancel of the same batch
        answers.append([_stopped(request_id) for request_id in session.stopped])
    if not answers:  # notifications (and responses) only
        return Response(status_code=202)
    (answer,) = answers
    answer = shown_tool_errors(answer, request.scope)  # a tool's error: no server path unless an admin's
    unreadable = isinstance(answer, dict) and "error" in answer and answer.get("id") is None
    status = 400 if unreadable else 200  # 400: not a message at all
    return Response(encode_message(answer), status_code=status, media_type="application/json")


def _ambiguous(message: Any, twice: str) -> Response:
    """The refusal of a body naming a key twice in one object (two ``arguments``, two ``user_id``):
    a JSON parser keeps the last value, so a tool could act for another user than meant (as on
    ``/v1/memories``). ``-32602`` for a key of a message's ``params``, ``-32600`` for a member of
    the message itself; the lone request's id, unless it is the id that is given twice."""
    where = twice.split(".")[1:] if isinstance(message, list) else twice.split(".")
    code = INVALID_PARAMS if len(where) > 1 and where[0] == "params" else INVALID_REQUEST
    answer = error_message(
        None if where == ["id"] else _id_of(message),
        code,
        f"{twice} is given more than once in the message; give it once: nothing was done",
    )
    answer["error"]["data"] = {"code": "invalid_input", "field": twice}
    return JSONResponse(answer, status_code=400)


def _id_of(message: Any) -> Any:
    """The id of a lone request, for an error that refuses it after it was read (a batch, a
    notification or an unreadable body: none, so null)."""
    request_id = message.get("id") if isinstance(message, dict) else None
    return request_id if isinstance(request_id, (str, int)) and not isinstance(request_id, bool) else None


def _stopped(request_id: Any) -> dict[str, Any]:
    """The answer of a request that a ``notifications/cancelled`` of its batch stopped before it
    ran, for a POST whose requests were all stopped: it must answer something (the transport
    answers a POST holding a request with JSON, and JSON-RPC never with an empty array)."""
    message = f"request {request_id!r} was cancelled (notifications/cancelled) before it ran: nothing done"
    return error_message(request_id, REQUEST_CANCELLED, message)


async def _memory_for(request: Request, message: Any) -> AsyncMemory:
    """The store the tools of ``message`` use: made for a tenant that has none only by an
    ``add_memory`` (as only ``POST /v1/memories`` makes one; a mistyped tenant is a 404, never a
    new empty one); a message that calls no tool (``initialize``, ``tools/list``, ``ping``) needs
    none, and gets the server's own only for the tools' limits."""
    items = message if isinstance(message, list) else [message]
    called = {
        str(m["params"].get("name"))
        for m in items
        if isinstance(m, dict) and m.get("method") == "tools/call" and isinstance(m.get("params"), dict)
    }
    if "add_memory" in called:
        return await get_memory_to_add(request)
    try:
        return await get_memory(request)
    except NotFoundError:
        own = state_of(request).memory
        if called or own is None:
            raise
        return own


@router.get("/mcp", include_in_schema=False)
async def no_stream() -> Response:
    """No server-initiated stream (the transport allows a 405)."""
    return Response(status_code=405, headers={"Allow": "POST"})


def _check_origin(request: Request) -> None:
    """Refuse a web page (DNS rebinding: a site whose name now resolves to this server), unless
    it is served from loopback or from the very host the server binds. Never the ``Host`` header:
    a rebinding page sends its own name there too."""
    origin = request.headers.get("origin")
    if origin is None:
        return  # not a browser
    host = (hostname_of(origin) or "").lower()
    own = state_of(request).settings.server.host.strip("[]").rstrip(".").lower()
    if not (is_loopback(host) or (host and own not in _WILDCARD_HOSTS and host.rstrip(".") == own)):
        raise PermissionDeniedError(f"MCP requests from a web page at {origin!r} are refused", field="Origin")


def _check_media(request: Request) -> Response | None:
    """The refusal of a POST whose body is not declared JSON (415), or whose client takes no JSON
    answer (406: every answer here is ``application/json``); None when both are right."""
    content_type = request.headers.get("content-type")
    if content_type is not None and content_type.split(";", 1)[0].strip().lower() != _JSON:
        error = f"Content-Type {content_type!r}: an MCP message is sent as {_JSON}"
        return jsonrpc_error(415, "unsupported_media_type", error, field="Content-Type")
    accept = request.headers.get("accept")
    if accept is not None and accept.strip() and not _accepts_json(accept):
        error = f"Accept {accept!r} admits no {_JSON}, and every answer here is {_JSON}"
        return jsonrpc_error(406, "not_acceptable", error, field="Accept")
    return None


def _accepts_json(accept: str) -> bool:
    """Whether an ``Accept`` header admits ``application/json``: the most specific of its ranges
    that matches (``application/json``, ``application/*``, ``*/*``) with a q above 0."""
    quality: dict[str, float] = {}
    for item in accept.split(","):
        media, *parameters = (part.strip() for part in item.split(";"))
        q = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        quality[media] = max(q, quality.get(media, 0.0))
    for media in (_JSON, "application/*", "*/*"):
        if media in quality:
            return quality[media] > 0
    return False


def _queued_add(pipeline: PipelineView) -> Handler:
    """``add_memory`` through the async pipeline: queued (or processed now when Redis is down and
    the fallback is on), as ``POST /v1/memories`` does."""

    async def add(memory: AsyncMemory, a: Args) -> dict[str, Any]:
        payload = AddPayload(
            a["messages"],
            **scope_of(a),
            metadata=a.get("metadata"),
            timestamp=a.get("timestamp"),
            mode=a.get("mode"),
        )
        submission = await pipeline.submit_add(memory, payload, event_id=a.get("event_id"), source="mcp")
        return added(submission.to_dict())

    return add
