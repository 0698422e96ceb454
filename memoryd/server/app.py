"""The FastAPI application: routes, error translation, body limits and life cycle.

:func:`create_app` builds the app around one :class:`AsyncMemory`. Its lifespan
opens the memory inside the server's event loop (so pass an unopened one) and
closes it on shutdown only if the app created it; one passed in belongs to
the caller. With ``pipeline.enabled`` it also connects the async pipeline
(:class:`memoryd.pipeline.Pipeline`); Redis being down then is not fatal: adds
fall back as ``pipeline.on_unavailable`` says, and ``/health`` shows it.

:class:`BodyLimitMiddleware` guards every request before FastAPI reads it: a
``Content-Length`` over ``limits.max_body_bytes`` is refused at once, a chunked
body is counted as it streams and refused as soon as it passes the limit, and a
JSON body that is not UTF-8 is refused with 400, a compressed one (``Content-Encoding``) with
415. Nothing is parsed first. The chat
gateway's ``POST /v1/chat/completions`` has a limit of its own, ``gateway.max_body_bytes``
(images come inline, as base64); its refusals, as every OpenAI route's, are in OpenAI's shape.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memoryd import __version__
from memoryd.config import Settings, load_settings
from memoryd.gateway import Gateway, server_memories, server_stores
from memoryd.gateway import routes as gateway_routes
from memoryd.llm import build_router
from memoryd.memory import AsyncMemory
from memoryd.pipeline import Pipeline
from memoryd.server import health, routes_admin, routes_mcp, routes_mem0, routes_pipeline, routes_v1
from memoryd.server.auth import Authenticator, AuthMiddleware
from memoryd.server.body_budget import WAIT_S, BodyBudget
from memoryd.server.docs import install_docs
from memoryd.server.errors import error_for, install_error_handlers
from memoryd.server.json_body import is_json
from memoryd.storage.sqlite.keys import SQLiteKeyStore
from memoryd.tenancy import Tenants

__all__ = ["BodyLimitMiddleware", "create_app"]

log = logging.getLogger("memoryd.server")

DESCRIPTION = (
    "Self-hosted long-term memory for LLM apps. `/v1/...` is memoryd's own API; "
    "`/memories`, `/search` and `/reset` mirror mem0's open-source REST server. "
    'Every error is `{"error": {"code", "message", "field"}}`.'
)


def create_app(settings: Settings | None = None, *, memory: AsyncMemory | None = None) -> FastAPI:
    """The REST app. ``settings`` default to the memory's, else :func:`load_settings`."""
    settings = settings or (memory.settings if memory is not None else load_settings())
    state = health.ServerState(settings=settings, memory=memory)
    # One router for the server's own memory (fine mode) and the chat gateway: one set of breakers,
    # so /health tells one story about each upstream (a given memory keeps its own).
    shared = build_router(settings) if memory is None else None
    gateway = Gateway(
        settings,
        server_stores(state),
        stores=server_memories(state),
        router=shared,
        close_router=shared is None,
    )
    state.gateway = gateway  # the chat gateway (needs [llm])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.owns_memory = memory is None
        state.startup_error = None
        state.memory = memory
        try:
            if state.memory is None:  # building it checks the storage settings (ConfigError)
                state.memory = AsyncMemory(settings, router=shared, close_router=False)
            await state.memory.open()
            await state.memory.warm()  # load the model now, not on the first request
            keys = SQLiteKeyStore(settings.keys_path())
            state.auth = Authenticator(settings, keys, host=settings.server.host)
            state.tenants = Tenants(settings, state.memory)
            if settings.pipeline.enabled:
                state.pipeline = Pipeline(settings.pipeline, settings.limits)
                await state.pipeline.start()
        except BaseException as exc:
            state.startup_error = exc
            if state.owns_memory and state.memory is not None:
                await state.memory.close()
            raise
        embedder = state.memory.embedder
        log.info(
            "memoryd %s ready: database %s (records=%s, vectors=%s, keywords=%s); embedder %s (%d dims)",
            __version__,
            state.memory.settings.storage.path,
            state.memory.settings.storage.records,
            state.memory.settings.storage.vectors,
            state.memory.settings.storage.keywords,
            embedder.name,
            embedder.dim,
        )
        if state.pipeline is not None:
            pipe = state.pipeline  # a Redis down at start was said by its start(), with what adds do
            log.info(
                "async pipeline on: adds %s stream %s on Redis %s (group %s)",
                "go to" if pipe.last_error is None else "will go to, once Redis takes them,",
                pipe.queue.keys.stream,
                pipe.queue.where,
                settings.pipeline.group,
            )
        await _log_auth(state.auth)
        gateway.start()
        state.ready = True
        try:
            yield
        finally:
            state.ready = False
            await gateway.aclose()  # finishes its write-backs while the stores are still open
            if state.pipeline is not None:
                await state.pipeline.close()
                state.pipeline = None
            if state.tenants is not None:
                await state.tenants.close()
                state.tenants = None
            if state.auth is not None:
                state.auth.store.close()
                state.auth = None
            if state.owns_memory:
                await state.memory.close()
                state.memory = None
            if shared is not None:
                await shared.aclose()

    app = FastAPI(
        title="memoryd",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, from local files
        redoc_url=None,
    )
    install_docs(app)
    app.state.memoryd = state
    app.state.gateway = gateway
    # Routes are matched in this order: the chat gateway's first, the hottest and the busiest.
    app.include_router(gateway_routes.router)
    app.include_router(health.router)
    app.include_router(routes_v1.router)
    app.include_router(routes_mem0.router)
    app.include_router(routes_pipeline.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_mcp.router)
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.limits.max_body_bytes,
        per_path={gateway_routes.CHAT_PATH: settings.gateway.max_body_bytes},
        in_flight=settings.limits.max_body_bytes_in_flight,
        wait_s=settings.limits.body_wait_s,
    )
    app.add_middleware(AuthMiddleware, get_auth=lambda: state.auth)  # outermost: before any body is read
    return app


async def _log_auth(auth: Authenticator | None) -> None:
    if auth is None:
        return
    keys = await auth.active_keys()
    if await auth.required() and keys == 0:
        revoked = await auth.created_keys()
        log.warning(
            "authentication on (listening on %s, auth.required = %r) but %s: every request is refused "
            "until one is created with `memoryd keys create --role admin`",
            auth.host,
            auth.settings.auth.required,
            f"all {revoked} API key(s) are revoked" if revoked else "no API key exists",
        )
    elif await auth.required():
        log.info("authentication on: %d active API key(s) in %s", keys, auth.settings.keys_path())
    else:
        log.warning(
            "authentication OFF: the server listens on loopback (%s) and no API key exists, so every "
            "local caller is an admin; create a key with `memoryd keys create --role admin` to turn it on",
            auth.host,
        )


_CHUNKED_STEP = 1024 * 1024  # what a chunked body takes from the budget at a time


class BodyLimitMiddleware:
    """Refuse what the app must never read: a path or query parameter that is not UTF-8 once
    percent-decoded (400, naming it), a query parameter given twice (422, naming it), and an
    oversized (413) or non-UTF-8 JSON (400) body.

    The body is read here, counted chunk by chunk, and handed on in one piece. ``per_path``:
    paths (with or without a trailing slash) whose limit is not ``max_bytes``; ``in_flight``: the
    bytes of bodies held at once (:mod:`memoryd.server.body_budget`), from before a body is read
    until the app has answered; ``wait_s``: how long a body waits for room in it.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        per_path: Mapping[str, int] | None = None,
        in_flight: int | None = None,
        wait_s: float = WAIT_S,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = dict(per_path or {})
        self.budget = BodyBudget(in_flight, wait_s=wait_s) if in_flight is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if (bad := _not_utf8(scope)) is not None:
            field, what = bad
            why = f"{what} is not valid UTF-8 once percent-decoded"
            await error_for(path, 400, "invalid_request", why, field=field)(scope, receive, send)
            return
        if (twice := _repeated(scope)) is not None:
            why = f"the query parameter {twice!r} is given more than once; give it once"
            await error_for(path, 422, "invalid_input", why, field=twice)(scope, receive, send)
            return
        limit = self.per_path.get(path.rstrip("/") or "/", self.max_bytes)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if (coding := _encoded(headers)) is not None:
            why = (
                f"Content-Encoding {coding!r}: request bodies are read as sent, uncompressed; "
                "send the body without Content-Encoding"
            )
            refusal = error_for(
                path, 415, "unsupported_media_type", why, field="Content-Encoding",
                headers={"Accept-Encoding": "identity"},
            )  # fmt: skip
            await refusal(scope, receive, send)
            return
        declared = headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > limit:
            await _too_large(path, limit)(scope, receive, send)
            return
        hold = _Hold()
        try:
            if self.budget is not None and declared.isdigit():
                if not await self.budget.take(int(declared)):
                    await _busy(path)(scope, receive, send)
                    return
                hold.size = int(declared)
            await self._read(scope, receive, send, (path, headers, limit), hold)
        finally:
            if self.budget is not None:
                await self.budget.give(hold.size)

    async def _read(
        self, scope: Scope, receive: Receive, send: Send, request: tuple[str, dict[str, str], int],
        hold: _Hold,
    ) -> None:  # fmt: skip
        """Read the body (taking what a chunked one needs from the budget as it streams), check it
        and call the app; ``request``: the path, the headers and the body's limit."""
        path, headers, limit = request
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(path, limit)(scope, receive, send)
                return
            if self.budget is not None and size > hold.size:  # a chunked body: a step at a time
                more = max(size - hold.size, min(_CHUNKED_STEP, limit - hold.size))
                hold.size = await self.budget.grow(hold.size, more)
                if not hold.size:
                    await _busy(path)(scope, receive, send)
                    return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        chunks.clear()  # not held twice while the app runs
        if body and is_json(headers.get("content-type", "")):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                response = error_for(
                    path,
                    400,
                    "invalid_body",
                    f"the request body is not valid UTF-8 (byte {exc.start}); JSON must be UTF-8",
                    field="body",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)


class _Hold:
    """The bytes one request's body holds in the budget."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        self.size = 0


def _busy(path: str) -> JSONResponse:
    message = "the server holds as many request bodies as it may (limits.max_body_bytes_in_flight); retry"
    return error_for(path, 503, "server_busy", message, field="body", headers={"Retry-After": "1"})


def _too_large(path: str, limit: int) -> JSONResponse:
    message = f"the request body is over the limit of {limit} bytes"
    return error_for(path, 413, "payload_too_large", message, field="body", details={"limit_bytes": limit})


def _not_utf8(scope: Scope) -> tuple[str, str] | None:
    """``(field, what)`` when the path or a query parameter is not UTF-8 once percent-decoded (a
    lone surrogate is not either): refused, never read with replacement characters, where
    ``?user_id=%FF`` would name some other user (a delete-all of theirs)."""
    raw_path = scope.get("raw_path")
    if isinstance(raw_path, bytes) and not _utf8(unquote_to_bytes(raw_path)):
        return "path", "the path"
    query = scope.get("query_string", b"")
    for pair in query.split(b"&") if query else ():
        name, _, value = pair.partition(b"=")
        name, value = (unquote_to_bytes(part.replace(b"+", b" ")) for part in (name, value))
        if not _utf8(name):
            return "query", "a query parameter's name"
        if not _utf8(value):
            field = name.decode()
            return field, f"the query parameter {field!r}"
    return None


def _repeated(scope: Scope) -> str | None:
    """The first query parameter named twice (``?user_id=ana&user_id=bob``): no route takes a list
    there, and reading one of the two (the last, as Starlette does) would list, or delete all of,
    memories of a user the caller may not have meant. Called once :func:`_not_utf8` passed."""
    query = scope.get("query_string", b"")
    seen: set[str] = set()
    for pair in query.split(b"&") if query else ():
        if not pair:
            continue  # "a=1&&b=2": an empty pair names nothing
        name = unquote_to_bytes(pair.partition(b"=")[0].replace(b"+", b" ")).decode()
        if name in seen:
            return name
        seen.add(name)
    return None


def _encoded(headers: Mapping[str, str]) -> str | None:
    """The ``Content-Encoding`` of a request when it is not plain (``identity``): such a body was
    read as if uncompressed (a gzip one refused as "not UTF-8", a ``br`` label on a plain one
    ignored), so it is refused with 415 as RFC 7694 has it."""
    value = headers.get("content-encoding")
    if value is None:
        return None
    codings = [c.strip().lower() for c in value.split(",") if c.strip()]
    return None if all(c == "identity" for c in codings) else value


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
