"""HTTP plumbing shared by the wire clients: one POST helper, one error translator, and
:func:`api_url`, which joins an API's path to a base URL before its query string.

Transport failures (:data:`memoryd.llm.transport.TRANSPORT_ERRORS`) and vendors'
error statuses become :class:`LLMError`s here, at the boundary, with the API key
scrubbed from every message. The chat gateway reuses :func:`translate_errors`
around its own (streaming) requests.
"""

from __future__ import annotations

import email.utils
import functools
import html
import json
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from memoryd.errors import LLMError, LLMTimeoutError
from memoryd.llm.replies import Reply, transport
from memoryd.llm.types import Completion, Target
from memoryd.redact import mask_url

if TYPE_CHECKING:
    from memoryd.llm.transport import HTTPClient

__all__ = [
    "MAX_RETRY_AFTER_S",
    "SHAPE_ERRORS",
    "LLMRequestError",
    "api_url",
    "body_said",
    "excerpt",
    "key_refused",
    "looks_like_page",
    "media_type",
    "post_json",
    "refuses_json_mode",
    "reply_parser",
    "retry_after",
    "scrub",
    "status_error",
    "translate_errors",
    "web_page",
]

# Anything shaped like a vendor key, in case a server echoes one back.
_KEYLIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,})")
_TRANSIENT = {408, 409, 425, 429}
_REQUEST_ERRORS = {400, 413, 422}  # the request's fault (too long, invalid), not the target's
_MAX_DETAIL = 300
# A web page's title, what of a page is no text (scripts, styles, its head), and its tags.
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_HIDDEN = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>?")
# A refused key, in an error's message (Gemini answers a bad or expired key with a 400).
_KEY_MESSAGE = re.compile(r"\bAPI key (?:not valid|expired|is invalid)|\binvalid API key", re.I)
# The longest wait a Retry-After is taken at ("99999999", "inf", a date years ahead say no more).
MAX_RETRY_AFTER_S = 3600.0
# What a 400 refusing the JSON mode itself talks about (OpenAI, vLLM, LM Studio, Ollama, Gemini's
# "JSON mode is not enabled for models/gemma-3-27b-it", Vertex's "a mimeType parameter ...",
# DeepSeek's "deepseek-reasoner does not support Json Output.").
_ABOUT_JSON_MODE = re.compile(
    r"response.?format|json.?schema|json.?object|json.?mode|structured.?output|json.?output|mime.?type", re.I
)
# What an answer holds (OpenAI, Anthropic, Gemini): a reply with none of them but an error is one.
_ANSWER_KEYS = {"choices", "content", "candidates"}
# What reading a JSON reply of the wrong shape raises ("message" a string, usage "n/a", ...).
SHAPE_ERRORS = (AttributeError, KeyError, IndexError, TypeError, ValueError, OverflowError)


def api_url(base: str, path: str, whole: str | None = None) -> str:
    """``base`` (a target's ``base_url``) with ``path`` added to its path, before its query string,
    which is kept (an API gateway's ``https://gw.example/v1?code=abc``); ``base`` as it is when its
    path already ends in ``whole`` (the endpoint's whole URL given, ``.../v1/messages?code=abc``)."""
    parts = urlsplit(base)
    here = parts.path.rstrip("/")
    if whole is None or not here.endswith(whole):
        here += path
    return urlunsplit(parts._replace(path=here))


def scrub(text: str, secret: str | None = None) -> str:
    """``text`` without ``secret``, anything that looks like an API key, or a URL's password."""
    if secret:
        text = text.replace(secret, "***")
    return mask_url(_KEYLIKE.sub("***", text))


def _wait(seconds: float) -> float | None:
    """``seconds`` within 0 and :data:`MAX_RETRY_AFTER_S` (``None`` for NaN: no number)."""
    return None if math.isnan(seconds) else min(max(0.0, seconds), MAX_RETRY_AFTER_S)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, ``retry-after`` seconds or date),
    at most :data:`MAX_RETRY_AFTER_S`."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            wait = _wait(float(millis) / 1000)
        except ValueError:
            wait = None
        if wait is not None:
            return wait
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return _wait(float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return _wait(when.timestamp() - time.time())


def key_refused(body: Any) -> bool:
    """Whether an error body says the API key is wrong: an ``API_KEY_*`` reason in Google's
    ``error.details`` (``API_KEY_INVALID``), or a message saying so. Like a 401, whatever the status."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return False
    details = error.get("details")
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, dict) and str(detail.get("reason") or "").startswith("API_KEY_"):
            return True
    return bool(_KEY_MESSAGE.search(str(error.get("message") or "")))


def _error_said(body: Any) -> str | None:
    """The message of a body's ``error`` (every vendor's error shape), if it has one."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:_MAX_DETAIL]
    if isinstance(error, str):
        return error[:_MAX_DETAIL]
    return None


def excerpt(text: str, secret: str | None = None, limit: int = 160) -> str:
    """``text`` as one short printable line, scrubbed of keys, quoted (``""`` when it is blank)."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    text = scrub(text, secret)
    if not text:
        return ""
    return '"' + (text if len(text) <= limit else text[: limit - 1].rstrip() + "…") + '"'


def media_type(headers: Mapping[str, str]) -> str:
    """A reply's media type (its ``content-type`` without parameters), lower-case; ``""`` if none."""
    return str(headers.get("content-type") or "").partition(";")[0].strip().lower()


def looks_like_page(kind: str, text: str) -> bool:
    """Whether a body of media type ``kind`` is a web page, by its type or how it starts."""
    start = text.lstrip()[:64].lower()
    return "html" in kind or start.startswith(("<!doctype html", "<html")) or "<title" in start


def body_said(headers: Mapping[str, str], text: str, secret: str | None = None) -> tuple[str, str] | None:
    """What a body that is not the JSON or events asked for is, when it is a web page (a proxy's
    error page, say) or other text: its kind with its content type, and ``": "`` and a short
    excerpt (an HTML page's title, else its first words), scrubbed of ``secret`` and keys, or
    ``""``; ``None`` for an empty body."""
    kind, text = media_type(headers), text[:20_000]
    if looks_like_page(kind, text):
        title = _TITLE.search(text)
        words = title.group(1) if title else _TAG.sub(" ", _HIDDEN.sub(" ", text))
        said = excerpt(html.unescape(_TAG.sub(" ", words)), secret)
        return f"an HTML page ({kind or 'no content type'})", f": {said}" if said else ""
    said = excerpt(text, secret)
    if not said:
        return None
    return (f"a {kind} body" if kind else "a body of no content type"), f": {said}"


def web_page(headers: Mapping[str, str], text: str, secret: str | None = None) -> str | None:
    """What a body is, with its title, if it is an HTML page (``an HTML page (text/html):
    "502 Bad Gateway"``, see :func:`body_said`); ``None`` for any other body."""
    if not looks_like_page(media_type(headers), text):
        return None
    return "".join(body_said(headers, text, secret) or ())


def _detail(response: Reply, secret: str | None) -> str:
    """What an error reply said: its error's message, its JSON, the page it is (a proxy's error
    page: by its title, not its markup) or its first words."""
    try:
        body = response.json()
    except ValueError:
        text = response.text
        page = web_page(response.headers, text, secret)
        return text[:_MAX_DETAIL].strip() if page is None else page
    said = _error_said(body)
    return json.dumps(body)[:_MAX_DETAIL] if said is None else said


class LLMRequestError(LLMError):
    """A target refused the request itself (400, 413, 422: a context too long, a bad parameter).

    The request's fault, not the target's: the target answered, so it never counts
    against the target's circuit breaker (a refused key, even as a 400, does).
    """


def _retry_delay(body: Any) -> float | None:
    """The wait Google's error body asks for, in seconds: a ``google.rpc.RetryInfo`` in
    ``error.details`` (``"retryDelay": "37s"``; the Gemini API says it there, not in a header)."""
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, dict) and str(detail.get("@type") or "").endswith("google.rpc.RetryInfo"):
            try:
                return _wait(float(str(detail.get("retryDelay") or "").strip().removesuffix("s")))
            except ValueError:
                return None
    return None


def status_error(target: Target, response: Reply) -> LLMError:
    """The :class:`LLMError` for an HTTP error status (429 and 5xx are transient); an
    :class:`LLMRequestError` when the request itself was refused."""
    status = response.status_code
    detail = scrub(_detail(response, target.api_key), target.api_key)
    hint = {401: " (check the API key)", 403: " (check the API key)", 404: " (check model and base_url)"}
    message = f"{target.label}: HTTP {status}{hint.get(status, '')}" + (f": {detail}" if detail else "")
    try:
        body = response.json()
    except ValueError:
        body = None
    request_error = status in _REQUEST_ERRORS and not key_refused(body)
    wait = retry_after(response.headers)
    return (LLMRequestError if request_error else LLMError)(
        message,
        target=target.label,
        status=status,
        transient=status in _TRANSIENT or status >= 500,
        retry_after=_retry_delay(body) if wait is None else wait,
    )


def refuses_json_mode(target: Target, exc: LLMError) -> bool:
    """Whether ``exc`` is a 400 refusing the JSON mode the request asked for (not a context too
    long, say), by its message without the target's label (which names the model)."""
    return exc.status == 400 and bool(_ABOUT_JSON_MODE.search(exc.message.removeprefix(target.label)))


def reply_parser(
    parse: Callable[[Target, dict[str, Any]], Completion],
) -> Callable[[Target, dict[str, Any]], Completion]:
    """``parse`` (a wire format's reply reader) raising an :class:`LLMError` for a reply of the
    wrong shape, so the router fails over instead of letting an ``AttributeError`` escape."""

    @functools.wraps(parse)
    def parse_reply(target: Target, data: dict[str, Any]) -> Completion:
        try:
            return parse(target, data)
        except LLMError:
            raise
        except SHAPE_ERRORS as exc:
            reason = scrub(f"{type(exc).__name__}: {exc}", target.api_key)[:_MAX_DETAIL]
            raise LLMError(f"{target.label}: a malformed reply ({reason})", target=target.label) from None

    return parse_reply


@contextmanager
def translate_errors(target: Target) -> Iterator[None]:
    """Turn transport failures (and asyncio timeouts) inside the block into :class:`LLMError`s.

    The block sends a request, so :func:`~memoryd.llm.replies.transport` is imported already
    (the clauses naming its exceptions are evaluated only when one is raised)."""
    try:
        yield
    except LLMError:
        raise
    except TimeoutError as exc:
        raise LLMTimeoutError(
            f"{target.label}: no answer within {target.timeout_s:g} s", target=target.label
        ) from exc
    except transport().LineTooLong as exc:  # the reply came, but as no stream of lines: no connection failure
        raise LLMError(f"{target.label}: {exc}", target=target.label) from exc
    except transport().TRANSPORT_ERRORS as exc:
        reason = scrub(transport().unreached(exc) or str(exc) or type(exc).__name__, target.api_key)
        raise LLMError(f"{target.label}: connection failed: {reason}", target=target.label) from exc


def redirect_error(target: Target, response: Reply) -> LLMError:
    """The :class:`LLMError` for a redirect, which is not followed: the key goes to the server of
    ``base_url`` alone (and the messages with it), so ``base_url`` is to be set where it points."""
    where = response.headers.get("location")
    to = f" to {scrub(mask_url(str(where)), target.api_key)}" if where else ""
    return LLMError(
        f"{target.label}: HTTP {response.status_code}: the server redirects{to}; a redirect is not "
        "followed (the key is sent to the base_url's server only): set base_url to where it points",
        target=target.label,
        status=response.status_code,
        transient=False,
    )


async def post_json(
    http: HTTPClient,
    target: Target,
    url: str,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """POST ``body`` as JSON and return the JSON object answered; errors translated."""
    with translate_errors(target):
        response = await http.post(url, body, headers=headers, params=params, timeout_s=target.timeout_s)
    if response.status_code >= 400:
        raise status_error(target, response)
    if 300 <= response.status_code < 400:
        raise redirect_error(target, response)
    try:
        data = response.json()
    except UnicodeDecodeError:
        why = "the reply is not a JSON object (not UTF-8)"
        raise LLMError(f"{target.label}: {why}", target=target.label) from None
    except ValueError:  # a proxy's page or other text in place of the answer: named, as the gateway does
        page = body_said(response.headers, response.text, target.api_key)
        why = "the reply is not a JSON object" + (f" but {''.join(page)}" if page else "")
        raise LLMError(f"{target.label}: {why}", target=target.label) from None
    if not isinstance(data, dict):
        raise LLMError(f"{target.label}: the reply is not a JSON object", target=target.label)
    said = _error_said(data)
    if said is not None and not _ANSWER_KEYS & data.keys():  # an error sent as a success (OpenRouter)
        detail = scrub(said, target.api_key)
        message = f"{target.label}: an error (sent with HTTP {response.status_code}): {detail}"
        raise LLMError(message, target=target.label)
    return data
