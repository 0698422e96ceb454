"""Forwarding one chat request upstream through the tiered router, plain or streamed.

:func:`complete` and :func:`open_stream` run inside :meth:`Router.run`, so a
target that times out, refuses the connection, answers 429/5xx or something
malformed is left for the next one (breakers and counters included). A stream
is *opened* inside the router — the request sent, the status checked, events
read until the first chunk for the client — so a stream that fails before its
first byte falls back too (a role-only chunk is not yet the answer: a stream cut
after it, not complete, falls back as well); what comes after is the caller's to relay.
A redirect is not followed (its server would get the vendor's key and the messages): it is
named, with where it points, as fine mode names it (:func:`~memoryd.llm.http.redirect_error`).
A body that holds no event at all is said what it was: a JSON document (an error in
place of a stream, a whole answer), a web page (a proxy's error page, by its title) or
other text (its first words). Its first 4 KB are kept to say so, until its first event.

An upstream's 400, 413 or 422 is the client's mistake (a bad tool schema, an
unknown parameter), not the target's: it is not retried elsewhere but relayed
as :class:`UpstreamRejected`, in the OpenAI error shape. Except a 400 that
refuses the API key (Gemini's ``API_KEY_INVALID``): that is the target's
fault, like a 401, and the next target is tried. And only from a target of the
model the client asked for (:attr:`Route.asked`): a fallback
model that refuses what the asked one accepts (a parameter it lacks) is
passed over for the next target, as a failure of its own. So is, before it is
sent anything, a fallback whose wire would drop what the request asks
(:meth:`Wire.lacks`: ``n`` > 1, ``logprobs``, a JSON schema on Anthropic): an
answer of another shape is not the one asked for. A target of the model asked
for is sent the request as its wire carries it. A refusal for the request's
length (:func:`too_long`: longer than the model's context window, or a 413: larger than the
upstream takes) is told apart, so that a request carrying memory can be sent once more without
it (:mod:`memoryd.gateway.routes`). So is such a refusal answered with a success status before
any answer (:func:`_refused_in_place`: a JSON error body, or the first event of a 200 stream, as
OpenRouter and some proxies send it): it is the refusal the same words with a 400 are.

An answer is waited for up to ``answer_timeout_s`` in all once sent — a
non-streamed one whole, a stream's first chunk (a long prompt, a reasoning
model: slow, not down); bytes that come meanwhile (an SSE keep-alive comment,
OpenRouter's ``: OPENROUTER PROCESSING``) do not put it off, so an upstream
sending keep-alives forever is given up on like a silent one. ``llm.timeout_s``,
the target's cut-off, bounds connecting, and a stream's pauses once its first
chunk came. An answer that does not come in time is not asked of that target
again (it may have been generated, and billed), but the next target is tried.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from memoryd.errors import LLMError, LLMTimeoutError, LLMUnavailableError
from memoryd.gateway.routing import Route
from memoryd.gateway.sse import Event, events
from memoryd.gateway.wire import StreamError, StreamTranslator, wire_for
from memoryd.llm.http import (
    SHAPE_ERRORS,
    LLMRequestError,
    body_said,
    looks_like_page,
    media_type,
    redirect_error,
    scrub,
    status_error,
    web_page,
)
from memoryd.llm.replies import ANSWER_TIMEOUT, Reply, answer_deadline
from memoryd.llm.router import Router
from memoryd.llm.types import Target, Usage

if TYPE_CHECKING:
    from memoryd.llm.transport import StreamReply

__all__ = [
    "OpenStream",
    "Served",
    "UpstreamRejected",
    "complete",
    "feed",
    "open_stream",
    "request_id",
    "retry_route",
    "too_long",
]

# Where upstreams put the id of a request (OpenAI, Azure and most OpenAI-compatible servers;
# Anthropic; Azure API Management), to be quoted to their support.
REQUEST_ID_HEADERS = ("x-request-id", "request-id", "apim-request-id")


def request_id(headers: Any) -> str | None:
    """The upstream's id of this request, from its response ``headers`` (case-insensitive), if any:
    printable ASCII of at most 200 characters (anything else is not relayed as a header)."""
    for name in REQUEST_ID_HEADERS:
        value = str(headers.get(name) or "")
        if value and len(value) <= 200 and value.isascii() and value.isprintable():
            return value
    return None


class UpstreamRejected(Exception):
    """The upstream refused the request itself (4xx): relay ``status`` and ``body`` to the client."""

    def __init__(
        self, target: Target, status: int, body: dict[str, Any], request_id: str | None = None
    ) -> None:
        super().__init__(f"{target.label}: HTTP {status}")
        self.target = target
        self.status = status
        self.body = body
        self.request_id = request_id


# How upstreams say a request is longer than the model's context window: OpenAI ("This model's
# maximum context length is N tokens", code context_length_exceeded), vLLM ("is longer than the
# model's context length", "the maximum model length"), llama.cpp ("exceeds the available context
# size"), Anthropic ("prompt is too long: N tokens > M maximum", "exceed context limit"), Gemini
# ("The input token count (N) exceeds the maximum number of tokens allowed"), others ("too many tokens").
# In words, or as a code saying it was exceeded: not a parameter or field named so
# ("Unrecognized request argument supplied: context_window", a 422 listing ``context_length``).
_TOO_LONG = re.compile(
    r"context[ -]?(?:length|window|size|limit)\b|context_(?:length|window)_exceeded|maximum model length"
    r"|too many tokens|prompt is too long|input token count|maximum number of tokens allowed",
    re.IGNORECASE,
)
# An error in place of an answer that is a rate limit ("Too many tokens, please wait", code 429),
# whatever its words: a target to fall back from, not a refusal of the request.
_THROTTLED = re.compile(r"rate[ _-]?limit|throttl|quota", re.IGNORECASE)


def too_long(refused: Exception) -> str | None:
    """What an upstream said refusing a request for its length (it does not fit the model's
    context window; or any 413, HTTP's "content too large": a proxy's page, Anthropic's
    ``request_too_large``), if it did: an :class:`UpstreamRejected` (from the model asked for), or a
    no-answer (:class:`LLMUnavailableError`) among whose failures a target refused it so (a fallback
    model with a smaller window). ``None`` for anything else (a bad parameter, an outage)."""
    if isinstance(refused, UpstreamRejected):
        error = refused.body.get("error")
        if refused.status not in _REFUSED or not isinstance(error, dict):
            return None
        said = f"{error.get('code') or ''} {error.get('message') or ''}".strip()
        if refused.status == 413 or _TOO_LONG.search(said):
            return f"{refused.target.label}: HTTP {refused.status}: {said}"
        return None
    if isinstance(refused, LLMUnavailableError):
        for cause in refused.causes.values():
            if _for_length(cause):
                return cause.message
    return None


def _for_length(cause: LLMError) -> bool:
    """Whether a target's failure is its refusal of the request for its length (as :func:`too_long`)."""
    said = cause.message.removeprefix(str(cause.target or ""))  # not the label (a model's name)
    return isinstance(cause, LLMRequestError) and (
        cause.status == 413 or (cause.status in _REFUSED and _TOO_LONG.search(said) is not None)
    )


def retry_route(targets: Route, refused: Exception) -> Route:
    """The targets a request :func:`too_long` says was refused for its length is sent once more
    (without its memory): after a refusal by the model asked for, ``targets`` again; after a
    no-answer, only the targets that refused it for its length. The others' failures stand: one
    that did not answer in time may have generated the answer, and billed it (it is never sent
    the same call again), and one that is down was tried as often as it may be."""
    if not isinstance(refused, LLMUnavailableError):
        return targets
    again = {label for label, cause in refused.causes.items() if _for_length(cause)}
    kept = [t for t in targets if t.label in again]
    return Route(kept, sum(t.label in targets.asked for t in kept))


def _refused_in_place(target: Target, data: Any, headers: Any, relay: bool) -> Exception | None:
    """A refusal for the request's length (:data:`_TOO_LONG`) in an error object answered with a
    success status before any answer — a JSON body, or a stream's first event (OpenRouter and some
    proxies answer a stream 200, then refuse it in its first event) — as the refusal the same words
    with a 400 are (:func:`_failure`): relayed from a target of the model asked for (``relay``),
    passed over from a fallback; not a failure of the target. ``None`` for any other error."""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str):
        error = {"message": error}
    elif not isinstance(error, dict) and isinstance(data, dict) and data.get("object") == "error":
        error = {k: data[k] for k in ("message", "type", "param", "code") if k in data}  # vLLM's
    if not isinstance(error, dict):
        return None
    said = scrub(f"{error.get('code') or ''} {error.get('message') or ''}".strip()[:500], target.api_key)
    code, kind = str(error.get("code") or ""), f"{error.get('type') or ''} {error.get('code') or ''}"
    if code.isdigit() and int(code) not in _REFUSED or _THROTTLED.search(kind) or not _TOO_LONG.search(said):
        return None
    if not relay:
        return LLMRequestError(
            f"{target.label}: an error in place of an answer: {said} (a fallback target: passed over)",
            target=target.label, status=400, transient=False,
        )  # fmt: skip
    message = scrub(str(error.get("message") or said)[:500], target.api_key)
    relayed = {"type": "invalid_request_error", "param": None, "code": None, **error, "message": message}
    return UpstreamRejected(target, 400, {"error": relayed}, request_id(headers))


_REFUSED = (400, 413, 422)  # the statuses of a request refused for itself (status_error's)


@dataclass
class Served:
    """A completed call: the ``chat.completion`` body and the target that wrote it."""

    target: Target
    body: dict[str, Any]
    request_id: str | None = None  # the upstream's id of the request (see :func:`request_id`)


@dataclass
class OpenStream:
    """A stream that has produced its first chunks: the rest is read from ``events``.

    Its target's verdict waits for its end: :meth:`settle` when it is known (complete, or
    broken midway: a failure toward the target's breaker); :meth:`aclose` gives none if
    it was not given (the client left)."""

    target: Target
    response: StreamReply
    events: AsyncIterator[Event]
    translator: StreamTranslator
    first: list[dict[str, Any]]
    router: Router
    settled: bool = field(default=False, init=False)

    @property
    def request_id(self) -> str | None:
        """The upstream's id of the request (see :func:`request_id`)."""
        return request_id(self.response.headers)

    def settle(self, error: LLMError | None) -> None:
        if not self.settled:
            self.settled = True
            self.router.settle(self.target, error)

    async def aclose(self) -> None:
        if not self.settled:
            self.settled = True
            self.router.release(self.target)
        await self.response.aclose()


def _said(data: Any) -> str | None:
    """The message of an error body (OpenAI's, Anthropic's and Gemini's ``error`` object, an
    ``error`` string, vLLM's top-level ``{"object": "error", "message"}``), if it is one."""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str) and error:
        return error
    if isinstance(data, dict) and isinstance(data.get("message"), str) and data["message"]:
        return str(data["message"])
    return None


def _message(target: Target, data: Any, response: Reply) -> str:
    said = _said(data) or web_page(response.headers, response.text, target.api_key)
    return said or response.text[:500].strip() or f"HTTP {response.status_code}"


def _error_in_place(target: Target, data: Any) -> LLMError | None:
    """An error body answered with a success status (some servers and proxies do), as the
    failure it is, in the upstream's words."""
    error = isinstance(data, dict) and ("error" in data or data.get("object") == "error")
    said = _said(data) if error else None
    if said is None:
        return None
    said = scrub(said[:500], target.api_key)
    return LLMError(f"{target.label}: an error in place of an answer: {said}", target=target.label)


class _Noted:
    """A body's lines as they come, the first ``limit`` characters of them also kept (to say what a
    body that held no event was: an error is short; a longer one is judged by its content type and
    first lines) until :meth:`stop`, once the body is seen to be an event stream."""

    def __init__(self, limit: int = 4096) -> None:
        self.kept: list[str] = []
        self._left = limit
        self._stopped = False

    async def lines(self, lines: AsyncIterator[str]) -> AsyncIterator[str]:
        async for line in lines:
            if self._left > 0:
                self.kept.append(line[: self._left])
                self._left -= len(line) + 1
            yield line

    @property
    def keeping(self) -> bool:
        """Whether no event has come yet (:meth:`stop` not called)."""
        return not self._stopped

    def stop(self) -> None:
        """Keep nothing more (and drop what was kept): an event came."""
        self._stopped = True
        self._left = 0
        self.kept.clear()


def _no_stream(target: Target, response: StreamReply, kept: list[str], relay: bool) -> Exception | None:
    """Why a body that held no event at all is no stream: a JSON document (an error — a refusal for
    the request's length as :func:`_refused_in_place` says, ``relay`` as there —, or a whole
    answer from a server that does not stream), a web page (a proxy's error page) or other text,
    if it is one."""
    text = "\n".join(line for line in kept if not line.startswith(":")).strip()  # not SSE comments
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    kind = media_type(response.headers)
    if data is None and (looks_like_page(kind, text) or "json" not in kind):
        # an event stream that said no event
        stream = "event-stream" in kind and not looks_like_page(kind, text)
        page = None if stream else body_said(response.headers, text, target.api_key)
        if page is None:
            return None
        what, said = page
        return LLMError(
            f"{target.label}: {what} answered a streamed request, not an event stream{said}",
            target=target.label,
        )
    refused = _refused_in_place(target, data, response.headers, relay) or _error_in_place(target, data)
    return refused or LLMError(
        f"{target.label}: a JSON body answered a streamed request, not an event stream", target=target.label
    )


def _failure(target: Target, response: Reply, relay: bool = True) -> Exception:
    """What an error status means: a client error to relay (the request's own fault, as
    :func:`status_error` judges it, from a target of the model asked for: ``relay``), or a
    target failure to fall back from."""
    failed = status_error(target, response)  # a proxy's error page: what it is and its title
    if not isinstance(failed, LLMRequestError):
        return failed
    if not relay:  # a fallback model's refusal: no verdict on the client's request
        return LLMRequestError(
            f"{failed.message} (a fallback target: passed over)", target=target.label, status=failed.status,
            transient=False,
        )  # fmt: skip
    try:
        data = response.json()
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):  # a top-level error (vLLM's), or none in a shape we know
        error = {k: data[k] for k in ("type", "param", "code") if k in data} if isinstance(data, dict) else {}
    # The upstream's error object as it sent it (an Azure content filter's details, say), in
    # OpenAI's shape: only its message is scrubbed of the upstream's key.
    relayed = {"type": "invalid_request_error", "param": None, "code": None, **error}
    relayed["message"] = scrub(_message(target, data, response), target.api_key)
    return UpstreamRejected(target, response.status_code, {"error": relayed}, request_id(response.headers))


def _not_answered(target: Target, answer_timeout_s: float) -> LLMTimeoutError:
    """A request sent and not answered in time: not for this target again (no retry), the next one."""
    return LLMTimeoutError(
        f"{target.label}: no answer within {answer_timeout_s:g} s of sending the request "
        "(not sent to it again: it may have been generated)",
        target=target.label,
        transient=False,
    )


def feed(translator: StreamTranslator, target: Target, event: Event) -> list[dict[str, Any]]:
    """``translator.feed(event)``, with an event of an unexpected shape as an :class:`LLMError`."""
    try:
        return translator.feed(event)
    except SHAPE_ERRORS as exc:
        raise LLMError(f"{target.label}: a malformed stream event ({exc})", target=target.label) from None


def _begun(chunks: list[dict[str, Any]]) -> bool:
    """Whether these ``chat.completion.chunk`` s hold more than the assistant's role: text, a
    tool call, reasoning, a finish reason or the usage (the answer itself has started)."""
    for chunk in chunks:
        if chunk.get("usage"):
            return True
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if choice.get("finish_reason") or any(v for k, v in delta.items() if k != "role"):
                return True
    return False


def _unfit(targets: Route, body: dict[str, Any]) -> Callable[[Target], str | None]:
    """Why a fallback target is not to be sent ``body`` (its wire would drop what it asks), if so."""
    asked = targets.asked

    def unfit(target: Target) -> str | None:
        lacks = [] if target.label in asked else wire_for(target).lacks(body)
        if not lacks:
            return None
        return f"{target.label}: cannot honour {', '.join(lacks)} (a fallback target: passed over)"

    return unfit


def usage_of_completion(body: dict[str, Any]) -> Usage:
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return Usage()
    return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


async def complete(
    router: Router, targets: Route, body: dict[str, Any], *, usage: bool = True, answer_timeout_s: float = 600
) -> Served:
    """One non-streamed completion from the first target that answers."""

    async def call(target: Target) -> Served:
        wire = wire_for(target)
        up = wire.request(target, body, stream=False, usage=usage)
        try:
            response = await router.http.post(
                up.url, up.body, headers=up.headers, params=up.params, timeout_s=target.timeout_s,
                read_timeout_s=answer_timeout_s,
            )  # fmt: skip
        except ANSWER_TIMEOUT:
            raise _not_answered(target, answer_timeout_s) from None
        if response.status_code >= 400:
            raise _failure(target, response, target.label in targets.asked)
        if 300 <= response.status_code < 400:  # not followed (the key and the messages would go there)
            raise redirect_error(target, response)
        try:
            data = response.json()
        except ValueError:
            page = body_said(response.headers, response.text, target.api_key)
            said = f" but {''.join(page)}" if page else ""
            raise LLMError(f"{target.label}: the reply is not JSON{said}", target=target.label) from None
        try:
            answer = wire.completion(target, data)
            used = usage_of_completion(answer)
        except (*SHAPE_ERRORS, LLMError) as exc:
            in_place = _refused_in_place(target, data, response.headers, target.label in targets.asked)
            in_place = in_place or _error_in_place(target, data)
            if in_place is not None:
                raise in_place from None
            if isinstance(exc, LLMError):
                raise
            raise LLMError(f"{target.label}: a malformed reply ({exc})", target=target.label) from None
        router.record_usage(target, used)
        return Served(target, answer, request_id(response.headers))

    return await router.run(call, targets=targets, timeout=False, unfit=_unfit(targets, body))


async def open_stream(
    router: Router, targets: Route, body: dict[str, Any], *, usage: bool = True, answer_timeout_s: float = 600
) -> OpenStream:
    """A stream from the first target that produces a first chunk (the rest is read by the caller)."""

    async def call(target: Target) -> OpenStream:
        # The opening in all (connecting, the headers, the first chunk) within answer_timeout_s, as
        # a reply read whole (complete): keep-alive comments meanwhile do not put the deadline off.
        try:
            async with answer_deadline(answer_timeout_s):
                return await begin(target)
        except ANSWER_TIMEOUT:
            raise _not_answered(target, answer_timeout_s) from None

    async def begin(target: Target) -> OpenStream:
        wire = wire_for(target)
        up = wire.request(target, body, stream=True, usage=usage)
        response = await router.http.open(
            up.url, up.body, headers=up.headers, params=up.params, timeout_s=target.timeout_s,
            read_timeout_s=answer_timeout_s,
        )  # fmt: skip
        relay = target.label in targets.asked  # a target of the model asked for: its refusal is relayed
        try:
            if response.status_code >= 400:
                raise _failure(target, await response.read(), relay)
            if 300 <= response.status_code < 400:  # not followed, as a plain call's (see complete)
                raise redirect_error(target, await response.read())
            translator = wire.translator(target, body, usage=usage)
            noted = _Noted()
            stream = events(noted.lines(response.lines()))
            first: list[dict[str, Any]] = []
            while not _begun(first):  # a role-only chunk (sent at once by many servers) is no start
                try:
                    event = await anext(stream)
                except StopAsyncIteration:
                    if first and translator.done:
                        break  # an empty answer, complete: what came is relayed as it is
                    # Cut before the answer began (after a role-only chunk, say): nothing has
                    # reached the client yet, so the next target is tried. A body that held no
                    # event at all is said what it was instead (JSON, a web page, text).
                    no_stream = _no_stream(target, response, noted.kept, relay) if noted.keeping else None
                    if no_stream is not None:
                        raise no_stream from None
                    said = "its first chunk" if not first else "the answer began"
                    raise LLMError(
                        f"{target.label}: the stream ended before {said}", target=target.label
                    ) from None
                noted.stop()  # an event: the body is an event stream, nothing more is kept
                try:
                    first += feed(translator, target, event)
                except StreamError as exc:
                    # An error event before the answer began (nothing has reached the client): a
                    # refusal for the request's length is the request's, as an HTTP 400 saying it.
                    refused = _refused_in_place(target, {"error": exc.error}, response.headers, relay)
                    if refused is None:
                        raise
                    raise refused from None
            response.bound_waits(target.timeout_s)  # begun: a pause from here on is a stall
            return OpenStream(target, response, stream, translator, first, router)
        except BaseException:
            await response.aclose()
            raise

    # No cut-off of the whole call (llm.timeout_s cut a slow first chunk, and the request was sent
    # again): the transport's bounds connecting and each wait above.
    return await router.run(call, targets=targets, timeout=False, deferred=True, unfit=_unfit(targets, body))
