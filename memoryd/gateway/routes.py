"""The gateway's HTTP routes: OpenAI's chat completions and models, and memoryd's usage.

- ``POST /v1/chat/completions`` (a trailing slash too): OpenAI's request and answer, plain or streamed
  (server-sent events, ``data: {chunk}`` … ``data: [DONE]``). Errors use OpenAI's
  shape, ``{"error": {"message", "type", "param", "code"}}``, so SDKs raise their
  usual exceptions: 400 for a bad request (a key given twice in one object of the body
  too, ``param`` naming it: its last value is not taken), 404 for a model not served (with
  ``gateway.unknown_model = "reject"``), the upstream's own 4xx when it refuses
  the request, 429 when every upstream asked to wait (with ``Retry-After``), 502
  when every upstream refused memoryd itself (``upstream_auth_failed``: its key;
  ``upstream_model_not_found``; ``upstream_redirected``: its URL answers with a redirect, which is
  not followed; 429 ``insufficient_quota``: a spent quota; none of them retried by an OpenAI SDK),
  503 when no upstream answers (each target's failure listed) or none is configured. Every error
  after the memory lookup, the server's 500 (``internal_error``, an incident id) for a bug
  included, carries the memory headers.
  A stream that breaks after its first chunk ends with an ``error`` event instead
  of ``[DONE]``; one whose upstream pauses after its first chunk sends its client a keep-alive
  comment (``: keep-alive``) every 15 s (a third of ``llm.timeout_s`` when shorter) of the pause.
  A client that leaves before its answer
  (an SDK's timeout) drops the upstream call, and nothing is written back.
- ``GET /v1/models``, ``GET /v1/models/{model}``: what the ``[llm]`` tiers serve, and aliases.
- ``GET /v1/usage``: token usage per user (memoryd's error shape).

The rest of OpenAI's API (``/v1/embeddings``, ``/v1/responses``, ...) is not served: a call to it
is a 404 in OpenAI's shape saying so (:mod:`memoryd.server.errors`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from memoryd.config import DEFAULT_TENANT
from memoryd.errors import InvalidInputError, LLMError, LLMUnavailableError, MemorydError, NotFoundError
from memoryd.gateway.routing import model_list
from memoryd.gateway.service import NO_UPSTREAM_HINT, Gateway, Prepared
from memoryd.gateway.shapes import Answer
from memoryd.gateway.sse import DONE, KEEPALIVE, Event, encode, json_bytes
from memoryd.gateway.upstream import (
    OpenStream,
    UpstreamRejected,
    complete,
    feed,
    open_stream,
    retry_route,
    too_long,
)
from memoryd.gateway.usage import summarise
from memoryd.llm.http import LLMRequestError, translate_errors
from memoryd.llm.router import quota_spent
from memoryd.server.errors import internal_error, openai_error
from memoryd.server.health import AddingMemoryDep, MemoryDep, PipelineDep
from memoryd.server.json_body import loads, repeated_key
from memoryd.unicode import lone_surrogate_at

__all__ = ["CHAT_PATH", "SSEResponse", "gateway_of", "openai_error", "router"]

router = APIRouter(prefix="/v1", tags=["chat gateway"])
CHAT_PATH = "/v1/chat/completions"  # its body limit is gateway.max_body_bytes (memoryd/server/app.py)

T = TypeVar("T")
CLIENT_GONE = 499  # the status logged for a call whose client left before its answer (nginx's)
KEEPALIVE_S = 15.0  # the longest a begun stream leaves its client without a byte (a keep-alive comment)

# One event of a streamed answer: a chunk's JSON (or "[DONE]") as its data; "error" names a broken stream
_SSE_EVENT = {
    "type": "object",
    "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
    "required": ["data"],
}
_OPENAI_ERROR = {
    "description": 'OpenAI\'s error shape: `{"error": {"message", "type", "param", "code"}}`',
    "content": {
        "application/json": {"schema": {"type": "object", "properties": {"error": {"type": "object"}}}}
    },
}
_CHAT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["messages"],
                    "additionalProperties": True,
                    "properties": {
                        "model": {"type": "string"},
                        "messages": {"type": "array", "minItems": 1, "items": {"type": "object"}},
                        "stream": {"type": "boolean"},
                        "user": {"type": "string"},
                        "metadata": {"type": "object"},
                    },
                }
            }
        },
    }
}


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def _check(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInputError("the request body must be a JSON object", field="body")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidInputError("messages must be a non-empty array of messages", field="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise InvalidInputError(f"messages[{i}] must be an object with a role", field=f"messages[{i}]")
    if body.get("model") is not None and not isinstance(body["model"], str):
        raise InvalidInputError("model must be a string", field="model")
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise InvalidInputError("stream must be true or false", field="stream")
    _no_lone_surrogates(body)
    return body


def _no_lone_surrogates(value: Any) -> None:
    """A 400 naming where: a lone surrogate (``"\\ud83d"`` in JSON) is no text an upstream can be
    sent, nor a store keep."""
    where = lone_surrogate_at(value, brackets=True)
    if where is not None:
        raise InvalidInputError(f"{where} is not valid Unicode text (lone surrogate)", field=where)


def _non_finite_at(value: Any, where: str = "") -> str | None:
    """The path of the first number in ``value`` that is not finite (``NaN``, ``Infinity``, or
    one too large for a float: ``1e999``), else None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else where or "body"
    if isinstance(value, dict):
        items: Any = ((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for path, item in items:
        found = _non_finite_at(item, path)
        if found is not None:
            return found
    return None


async def _body(request: Request) -> dict[str, Any]:
    non_finite = False

    def number(text: str) -> float:  # NaN, Infinity, -Infinity; or a literal too large: 1e999
        nonlocal non_finite
        value = float(text)
        non_finite = non_finite or not math.isfinite(value)
        return value

    try:
        body = loads(await request.body(), parse_constant=number, parse_float=number)
    except ValueError as exc:
        raise InvalidInputError(f"the request body is not valid JSON: {exc}", field="body") from None
    except RecursionError:  # the parser's nesting limit: the body's fault, not the server's
        raise InvalidInputError("the request body is nested too deeply", field="body") from None
    # A key given twice ({"user": "a", ..., "user": "b"}) would be read as its last value: whose
    # memories are read and written, say, may not be whom the caller meant (as on /v1/memories).
    if (twice := repeated_key(body)) is not None:
        message = f"{twice} is given more than once in the request body; give it once"
        raise InvalidInputError(message, field=twice)
    # Python's parser takes them, JSON has no such numbers: no upstream could be sent one.
    try:
        where = _non_finite_at(body) if non_finite else None
    except RecursionError:
        where = "body"
    if where is not None:
        raise InvalidInputError(f"{where} must be a finite number (JSON has no NaN or Infinity)", field=where)
    return _check(body)


class ClientGone(Exception):
    """The client disconnected before the answer was ready."""


async def _disconnect(request: Request) -> None:
    """Return once the client has disconnected (its body has been read: nothing else arrives)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_gone(request: Request, call: Awaitable[T]) -> T:
    """``await call``, cancelled (:class:`ClientGone`) if the client disconnects first.

    Nobody reads an answer whose client left: the upstream is not kept generating it, and the
    turn is not written back (an SDK that timed out retries, and the retry is the turn)."""
    task, watch = asyncio.ensure_future(call), asyncio.ensure_future(_disconnect(request))
    try:
        await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # this request itself is cancelled (the server stops)
        task.cancel()
        raise
    finally:
        watch.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise ClientGone
    return task.result()


class SSEResponse(StreamingResponse):
    """A ``text/event-stream`` response that always closes its generator and then runs ``cleanup``
    (closing the upstream), even when the client leaves before the first chunk."""

    def __init__(
        self,
        content: AsyncGenerator[bytes, None],
        headers: Mapping[str, str],
        cleanup: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(
            content,
            media_type="text/event-stream; charset=utf-8",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no", **headers},
        )
        self._content = content
        self._cleanup = cleanup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                await self._content.aclose()
            finally:
                await self._cleanup()


class _Paced:
    """Reads a stream's ``events`` for :func:`_relay`: :meth:`next` gives the next one, or ``None``
    once ``every_s`` have passed since the client was last sent something (:meth:`sent`, or that
    ``None``): its cue to send a keep-alive. The wait for the event goes on meanwhile."""

    def __init__(self, events: AsyncIterator[Event], every_s: float) -> None:
        self._events = events
        self._every_s = every_s
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._upcoming: asyncio.Future[Event] | None = None

    def sent(self) -> None:
        self._last = self._loop.time()

    async def next(self) -> Event | None:
        """The next event, or ``None`` (time for a keep-alive); :class:`StopAsyncIteration` at the end."""
        upcoming = self._upcoming = self._upcoming or asyncio.ensure_future(anext(self._events))
        await asyncio.wait((upcoming,), timeout=max(0.0, self._last + self._every_s - self._loop.time()))
        if not upcoming.done():
            self.sent()
            return None
        self._upcoming = None
        return upcoming.result()

    async def aclose(self) -> None:
        """Stop waiting for an event (the client left, the stream broke or ended)."""
        if self._upcoming is not None:
            self._upcoming.cancel()
            await asyncio.gather(self._upcoming, return_exceptions=True)
            self._upcoming = None


async def _relay(
    gateway: Gateway, prepared: Prepared, opened: OpenStream, memory: Any, pipeline: Any
) -> AsyncGenerator[bytes, None]:
    """The client's stream: the chunks as they come, ``[DONE]``, or an error event if the upstream breaks.

    While the upstream pauses (a model thinking, events with nothing to relay such as Anthropic's
    ``ping`` or OpenRouter's comments), the client is sent a keep-alive comment every
    :data:`KEEPALIVE_S` (a third of ``llm.timeout_s`` when that is shorter), which SDKs skip: a
    proxy's idle cut-off or the client's read timeout does not end an answer still coming."""
    answer, complete = Answer(), False
    target, translator = opened.target, opened.translator
    try:
        for c in opened.first:
            answer.add_chunk(c)
            yield encode(c)
        try:
            with translate_errors(target):
                paced = _Paced(opened.events, min(KEEPALIVE_S, target.timeout_s / 3))
                try:
                    while True:
                        try:
                            event = await paced.next()
                        except StopAsyncIteration:
                            break
                        if event is None:
                            yield KEEPALIVE
                            continue
                        for c in feed(translator, target, event):
                            answer.add_chunk(c)
                            paced.sent()
                            yield encode(c)
                        if translator.ended:
                            break  # an upstream that keeps the connection open after [DONE] is not waited for
                finally:
                    await paced.aclose()
        except LLMError:
            if not translator.done:
                raise
            # The answer was complete: a timeout or a cut after it (an upstream that lingers on
            # without its end marker) is no failure of the answer.
        if not translator.done:
            raise LLMError(
                f"{target.label}: the stream ended before the answer was complete", target=target.label
            )
        opened.settle(None)  # the upstream answered in full
        for c in translator.finish():
            answer.add_chunk(c)
            yield encode(c)
        yield DONE
        complete = True
    except LLMError as exc:
        opened.settle(exc)  # broken midway: a failure toward the target's breaker, so calls fall back
        gateway.counts["upstream_failures"] += 1
        error = {  # a user key is shown no upstream's address
            "message": "the upstream LLM's answer broke off" if prepared.identity.bound else exc.message,
            "type": "server_error",
            "param": None,
            "code": "upstream_stream_error",
        }
        yield encode({"error": error})
    finally:
        await opened.aclose()
        answer.usage = translator.usage or answer.usage
        if answer.usage is not None and gateway.router is not None:
            gateway.router.record_usage(target, answer.usage)
        gateway.finish(prepared, answer, complete=complete, memory=memory, pipeline=pipeline)


@router.post(
    "/chat/completions",
    summary="Chat completion with memory (OpenAI-compatible)",
    responses={
        200: {
            "description": "A `chat.completion`, or with `stream: true` a `text/event-stream` of chunks",
            "content": {"text/event-stream": {"schema": _SSE_EVENT}},
        },
        400: _OPENAI_ERROR,
        404: _OPENAI_ERROR,
        413: _OPENAI_ERROR,
        429: _OPENAI_ERROR,
        502: _OPENAI_ERROR,
        503: _OPENAI_ERROR,
    },
    openapi_extra=_CHAT_BODY,
)
async def chat_completions(request: Request, memory: AddingMemoryDep, pipeline: PipelineDep) -> Response:
    """OpenAI's chat completions: point an OpenAI client's ``base_url`` at ``/v1``.

    The user comes from a user-bound API key, ``X-Memoryd-User-Id`` (or ``X-User-ID``), or ``user``;
    the session from ``X-Memoryd-Session-Id`` or ``metadata.session_id``. Memories relevant to the
    last user message are injected (fenced as data); the answer is routed through the ``[llm]`` tiers
    with fallback, and the turn is stored afterwards. Headers ``X-Memoryd-Memory`` (injected, none,
    passthrough, skipped, degraded; dropped: refused as too long with memory, for the model's
    context window or a 413, answered without it), ``X-Memoryd-Memories-Injected``,
    ``X-Memoryd-Memory-Tokens``, ``X-Memoryd-Memory-Ms``, ``X-Memoryd-Target``,
    ``X-Memoryd-Writeback`` (on, off, skipped: nothing written back; a stream's ``on``: if its
    answer is one written back) and
    ``X-Degraded-Mode`` say what happened."""
    gateway = gateway_of(request)
    if not gateway.available:
        return _unavailable(gateway)
    principal = getattr(request.state, "principal", None)
    try:
        prepared = await gateway.prepare(memory, await _body(request), request.headers, principal)
    except NotFoundError as exc:
        return openai_error(404, exc.message, param="model", code="model_not_found")
    except InvalidInputError as exc:
        return openai_error(exc.status_code if exc.status_code == 413 else 400, exc.message, param=exc.field)
    try:
        return await _forward(request, gateway, prepared, memory, pipeline)
    except MemorydError:
        raise  # answered by its own handler (memoryd.server.errors)
    except Exception as exc:  # a bug, not an upstream's failure: the server's 500, saying what the call did
        gateway.unanswered(prepared)
        return internal_error(request.method, request.url.path, exc, gateway.headers(prepared, skipped=True))


async def _forward(
    request: Request, gateway: Gateway, prepared: Prepared, memory: Any, pipeline: Any
) -> Response:
    """The prepared call sent upstream, and its answer (or the error saying why there is none).

    Refused for its length with memory injected (the memory pushed it past the model's context
    window, or past what the upstream takes: a 413), by an error status or, before any byte reached
    the client, in a 200 stream's first event: sent once more as the caller sent it, without the
    memory (after a no-answer, to the targets that refused it so only: :func:`retry_route`), and
    answered ``X-Memoryd-Memory: dropped``; a refusal of that too is the caller's,
    relayed as any other."""
    try:
        try:
            return await _send(request, gateway, prepared, memory, pipeline)
        except (UpstreamRejected, LLMUnavailableError) as exc:
            said = too_long(exc)
            if said is None or not gateway.drop_memory(prepared, said):
                raise
            prepared.targets = retry_route(prepared.targets, exc)  # not those that failed otherwise
        return await _send(request, gateway, prepared, memory, pipeline)
    except ClientGone:
        gateway.unanswered(prepared)
        return Response(status_code=CLIENT_GONE)
    except LLMUnavailableError as exc:
        gateway.counts["upstream_failures"] += 1
        gateway.unanswered(prepared)
        headers = gateway.headers(prepared, skipped=True)
        return _no_upstream_answered(exc, bound=prepared.identity.bound, headers=headers)
    except UpstreamRejected as exc:
        gateway.unanswered(prepared)
        headers = gateway.headers(prepared, exc.target, exc.request_id, skipped=True)
        return Response(json_bytes(exc.body), exc.status, headers, media_type="application/json")


async def _send(
    request: Request, gateway: Gateway, prepared: Prepared, memory: Any, pipeline: Any
) -> Response:
    """:func:`_forward`'s one try: ``prepared.body`` sent upstream, its answer (a stream's, once its
    first chunk came). None: :class:`UpstreamRejected`, :class:`LLMUnavailableError`, :class:`ClientGone`."""
    assert gateway.router is not None
    router, targets, body = gateway.router, prepared.targets, prepared.body
    if prepared.stream:
        timeout_s = gateway.config.answer_timeout_s
        opening = open_stream(
            router, targets, body, usage=gateway.config.stream_usage, answer_timeout_s=timeout_s
        )
        opened = await _unless_gone(request, opening)

        async def cleanup() -> None:
            # A client that left as the response started: the relay never ran, the call still counts.
            await opened.aclose()
            gateway.unanswered(prepared)

        return SSEResponse(
            _relay(gateway, prepared, opened, memory, pipeline),
            gateway.headers(prepared, opened.target, opened.request_id),
            cleanup=cleanup,
        )
    served = await _unless_gone(
        request, complete(router, targets, body, answer_timeout_s=gateway.config.answer_timeout_s)
    )
    answer = Answer()
    answer.add_completion(served.body)
    # The answer is complete: the headers say whether its turn is written back (not a tool call's).
    kept = gateway.finish(prepared, answer, complete=True, memory=memory, pipeline=pipeline)
    headers = gateway.headers(prepared, served.target, served.request_id, skipped=not kept)
    return Response(json_bytes(served.body), headers=headers, media_type="application/json")


# With a trailing slash too: Starlette's redirect (a 307, no body) is not followed by every client.
router.add_api_route("/chat/completions/", chat_completions, methods=["POST"], include_in_schema=False)


# What every upstream refusing memoryd itself means to the client (no retry helps any of them).
_REFUSALS = {
    "auth": (502, "server_error", "upstream_auth_failed", "the upstream LLM refused memoryd's API key"),
    "model": (502, "server_error", "upstream_model_not_found", "the upstream LLM has no such model"),
    "quota": (429, "insufficient_quota", "insufficient_quota", "the upstream LLM's quota is used up"),
    "mixed": (502, "server_error", "upstream_refused", "every upstream LLM refused memoryd's request"),
    "redirect": (
        502, "server_error", "upstream_redirected",
        "the upstream LLM's URL redirects elsewhere, and a redirect is not followed (the key would go "
        "there): its base_url is to be set to where it points",
    ),  # fmt: skip
}


def _refusal(cause: LLMError) -> str | None:
    """Which refusal of memoryd itself a target's failure is: its key (401, 403, or a 400 refusing
    the key: not an :class:`LLMRequestError`), a model it lacks (404), a spent quota (a 429 that
    says so: the router's reading), a redirect (not followed: ``base_url`` is to be set where it
    points); ``None`` for anything another try might pass."""
    if cause.status is not None and 300 <= cause.status < 400:
        return "redirect"
    if cause.status in (401, 403) or (cause.status == 400 and not isinstance(cause, LLMRequestError)):
        return "auth"
    if cause.status == 404:
        return "model"
    if quota_spent(cause):
        return "quota"
    return None


def _no_upstream_answered(
    exc: LLMUnavailableError, *, bound: bool, headers: Mapping[str, str]
) -> JSONResponse:
    """The answer when no upstream answered: 502 (or 429 ``insufficient_quota``) when each that
    failed refused memoryd itself, with ``x-should-retry: false`` (an OpenAI SDK then does not
    retry, as it does a 5xx: a bad key is not an outage); 429 when each asked to wait, with the
    soonest ``Retry-After``, so the SDK backs off; else 503. A user key (``bound``) is told
    neither where the upstreams are nor what they said. ``headers``: the call's own (what the
    memory lookup did), sent besides."""
    kinds = {_refusal(cause) for cause in exc.causes.values()}
    if kinds and None not in kinds:
        kind = next(iter(kinds)) if len(kinds) == 1 else "mixed"
        status, type_, code, summary = _REFUSALS[str(kind)]
        extra = {"x-should-retry": "false"}
    elif exc.rate_limited:
        status, type_, code = 429, "rate_limit_error", "rate_limit_exceeded"
        summary, extra = "no upstream LLM answered: all are busy", exc.http_headers()
    else:
        status, type_, code = 503, "server_error", "upstream_unavailable"
        summary, extra = "no upstream LLM answered", exc.http_headers()
    headers = {**headers, **extra}
    if bound:
        return openai_error(status, summary, type=type_, code=code, headers=headers)
    return openai_error(status, exc.message, type=type_, code=code, headers=headers, failures=exc.failures)


def _end_user(request: Request) -> bool:
    """Whether the caller is a user-bound key: an end user, shown no upstream's address."""
    return getattr(getattr(request.state, "principal", None), "user_id", None) is not None


def _models(request: Request, gateway: Gateway) -> list[dict[str, Any]]:
    """``GET /v1/models``' entries; without the upstream targets (their hosts) for a user key."""
    entries = model_list(gateway.router, gateway.config)
    if _end_user(request):
        for entry in entries:
            entry["memoryd"].pop("targets", None)
    return entries


def _unavailable(gateway: Gateway) -> JSONResponse:
    """The 503 of every OpenAI route while the gateway is off or has no upstream: no memory was
    looked up, so, like a request refused before it (400, 404), it has no ``X-Memoryd-*`` headers."""
    why = "is off (gateway.enabled = false)" if not gateway.config.enabled else "has no upstream LLM"
    hint = "" if not gateway.config.enabled else f": {NO_UPSTREAM_HINT}"
    return openai_error(503, f"the chat gateway {why}{hint}", type="server_error", code="no_upstream")


@router.get(
    "/models", summary="Models the gateway serves (OpenAI-compatible)", responses={503: _OPENAI_ERROR}
)
async def list_models(request: Request) -> Response:
    """Each model of the ``[llm]`` tiers (``memoryd.tier``, ``memoryd.targets``), then each alias of
    ``gateway.aliases`` (``memoryd.alias_of``); none without an upstream; 503, as chat, while the
    gateway is off (no model listed would be served)."""
    gateway = gateway_of(request)
    if not gateway.config.enabled:
        return _unavailable(gateway)
    return JSONResponse({"object": "list", "data": _models(request, gateway)})


@router.get(
    "/models/{model:path}",
    summary="One model (OpenAI-compatible)",
    responses={404: _OPENAI_ERROR, 503: _OPENAI_ERROR},
)
async def get_model(model: str, request: Request) -> Response:
    """A model or alias of ``GET /v1/models``; 404 in OpenAI's error shape when there is none."""
    gateway = gateway_of(request)
    if not gateway.config.enabled:
        return _unavailable(gateway)
    for entry in _models(request, gateway):
        if entry["id"] == model:
            return JSONResponse(entry)
    return openai_error(
        404, f"the model {model!r} does not exist here", param="model", code="model_not_found"
    )


def _day_query(description: str) -> Any:
    return Query(
        pattern=r"^\d{4}-\d{2}-\d{2}$", description=description, json_schema_extra={"format": "date"}
    )


def _day(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise InvalidInputError(f"{field} must be a date, YYYY-MM-DD (got {value!r})", field=field) from None


@router.get("/usage", summary="Chat gateway usage per user")
async def usage(
    request: Request,
    memory: MemoryDep,
    user_id: Annotated[
        str | None, Query(max_length=256, description="One user (default: every user).")
    ] = None,
    since: Annotated[str | None, _day_query("First UTC day counted (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, _day_query("Last UTC day counted (YYYY-MM-DD).")] = None,
) -> dict[str, Any]:
    """Requests, prompt and completion tokens (as the upstream reported them), memory tokens and
    memories injected: totals, per day and per model, for one user or (without ``user_id``) per user.
    A user-bound key sees its own user only. Calls without a user count under ``user_id`` null."""
    del memory  # asked for so that the store is ready and the caller's tenant is known
    gateway = gateway_of(request)
    principal = getattr(request.state, "principal", None)
    bound = getattr(principal, "user_id", None)
    if bound is not None and user_id is not None and user_id != bound:
        raise NotFoundError(f"no user {user_id!r}", field="user_id")
    user = bound if bound is not None else user_id
    if user is not None and not user.strip():
        raise InvalidInputError("user_id must be a non-empty string", field="user_id")
    first, last = _day(since, "since"), _day(until, "until")
    tenant = str(getattr(principal, "tenant", None) or DEFAULT_TENANT)
    store = await gateway.meter.store(tenant)
    rows = await gateway.meter.query(tenant, store, user, all_users=user is None, since=first, until=last)
    body: dict[str, Any] = {"user_id": user, "since": first, "until": last, **summarise(rows)}
    if user is None:
        users = sorted({r.user_id or "" for r in rows})
        body["users"] = [
            {"user_id": u or None, **summarise([r for r in rows if (r.user_id or "") == u])["totals"]}
            for u in users
        ]
    return body
