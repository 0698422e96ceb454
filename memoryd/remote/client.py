"""The async remote client: :class:`AsyncMemoryClient`, :class:`AsyncMemory`'s calls over HTTP.

Each method sends one request to a memoryd server's ``/v1`` routes and returns the objects the
embedded API returns, read back by :mod:`memoryd.remote.parse`. An error answer raises the class the embedded
API raises (:mod:`memoryd.remote.errors`); so does a server that cannot be reached
(:class:`BackendUnavailableError`): no httpx exception leaves this module.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from memoryd.config import TENANT_HEADER
from memoryd.context import Context
from memoryd.errors import (
    BackendUnavailableError,
    ConfigError,
    InvalidFilterError,
    InvalidInputError,
    MemorydError,
    NotFoundError,
)
from memoryd.filters import parse_filter
from memoryd.hierarchy.tree import LONG_TERM_SHOWN, SEGMENTS_SHOWN
from memoryd.hierarchy.tree_owner import tree_owner
from memoryd.ingest.inputs import check_bool, check_metadata, check_texts
from memoryd.models import AddResults, HistoryEntry, MemoryRecord, Page, Scope, UpdateResult, parse_time
from memoryd.remote import parse
from memoryd.remote.errors import from_response, retry_after, unreachable
from memoryd.retrieval.related import SearchResults

__all__ = ["TENANT_HEADER", "AsyncMemoryClient"]

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_RETRIES = 2
# Answers that say the request was not carried out and may be sent again: rate-limited, or the
# server's store or queue unavailable for now (a write answered so stored nothing).
_RETRY_STATUSES = frozenset({429, 503})
# A proxy's answers for a server it could not reach or that did not answer it in time (nginx in front
# of memoryd): the server's answer, if any, was lost, so only a read is sent again.
_LOST_STATUSES = frozenset({502, 504})
MAX_RETRY_WAIT_S = 30.0  # a Retry-After longer than this is raised: the caller decides to wait
_BACKOFF_S = 0.5  # the first wait when the server names none; doubled each attempt
# The POST routes that only read: sent again after an answer was lost, they change nothing.
_READS = frozenset({"/v1/memories/list", "/v1/memories/search", "/v1/context"})

T = TypeVar("T")
_Closer = AsyncGenerator[None, None]


async def _closed_at_end(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    """Closes ``client`` when closed: by :meth:`AsyncMemoryClient.close`, or by the event loop it
    was first iterated in when that loop shuts down (the end of ``asyncio.run``), so a client a
    finished loop leaves behind holds no open connection."""
    try:
        yield
    finally:
        await client.aclose()


def _time(value: Any) -> Any:
    """A time argument as JSON: a datetime as ISO 8601 (naive: UTC, as the embedded API reads it)."""
    return value.isoformat() if isinstance(value, datetime) else value


def _when(value: Any, field: str) -> str | None:
    """A time argument (``timestamp``, ``as_of``, ``reference_time``) read as the embedded API reads
    it (a datetime, ISO 8601 text or epoch seconds; naive: UTC), sent as ISO 8601: one it refuses
    is refused here with its class, field and message (``True`` was blamed on ``timestamp.str``)."""
    parsed = parse_time(value, field_name=field)
    return None if parsed is None else parsed.isoformat()


def _messages(messages: Any) -> Any:
    """``messages`` as JSON: a message dict's ``timestamp`` given as a datetime, as ISO 8601."""
    if isinstance(messages, Mapping):
        return {k: _time(v) if k == "timestamp" else v for k, v in messages.items()}
    if isinstance(messages, list | tuple):
        return [_messages(m) if isinstance(m, Mapping) else m for m in messages]
    return messages


def _given(**fields: Any) -> dict[str, Any]:
    """The fields that are not ``None`` (the routes' defaults are the core's)."""
    return {k: v for k, v in fields.items() if v is not None}


def _owner(user_id: Any, agent_id: Any, run_id: Any) -> dict[str, str]:
    """A scope sent as query parameters, refused here as the core refuses it (an id that is not text,
    ``user_id=3``, would otherwise be sent as the text "3")."""
    return dict(Scope(user_id, agent_id, run_id).items())


def _filters(filters: Any) -> Any:
    """``filters`` as sent; one that is not a JSON object is refused here as the core refuses it
    (:class:`InvalidFilterError`; the server's request check would say InvalidInputError)."""
    if filters is not None and not isinstance(filters, Mapping):
        parse_filter(filters)
    return filters


def _segment(value: str) -> str:
    """One path segment with every reserved character and every dot percent-encoded: a "." or ".."
    id reaches its route, which answers for it, instead of being resolved as a path step
    (``delete(".")`` sent ``DELETE /v1/memories``, the scope's delete-all)."""
    return quote(value, safe="").replace(".", "%2E")


def _memory_path(memory_id: Any, tail: str = "") -> str:
    """``/v1/memories/{id}``; an id that is no id is refused here, as the core refuses it: an empty
    one would name another route, and one with a slash too (the server routes the decoded path)."""
    if not isinstance(memory_id, str) or not memory_id.strip():
        raise InvalidInputError("memory_id must be a non-empty string", field="memory_id")
    if "/" in memory_id:
        raise NotFoundError(f"no memory with id {memory_id!r}", field="memory_id")
    return f"/v1/memories/{_segment(memory_id)}{tail}"


def _not_utf8(value: Any, field: str) -> str | None:
    """Where ``value`` holds text that cannot be sent as UTF-8 (a lone surrogate), named as the
    embedded API names it (``messages[0]``, ``messages[0].name``, ``metadata``); None: nowhere."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return field
        return None
    in_message = field.startswith("messages[")
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{field}.name" if in_message and key == "name" else field
            found = _not_utf8(key, field) or _not_utf8(item, where)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _not_utf8(item, f"{field}[{i}]" if field == "messages" else field)
            if found is not None:
                return found
    return None


def _check_utf8(fields: Mapping[str, Any] | None) -> None:
    """Refuse a request holding text that is not UTF-8 before it is sent (httpx would raise
    UnicodeEncodeError), with the embedded API's error."""
    for key, value in (fields or {}).items():
        found = _not_utf8(value, "messages[0]" if key == "messages" and isinstance(value, str) else key)
        if found is not None:
            raise InvalidInputError(f"{found} is not valid UTF-8 text (lone surrogate)", field=found)


def _a_timeout(value: Any) -> bool:
    """A timeout httpx can keep: None, a number of seconds over 0, or an :class:`httpx.Timeout`."""
    if value is None or isinstance(value, httpx.Timeout):
        return True
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and value > 0


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _encode(body: dict[str, Any]) -> bytes:
    """``body`` as JSON; a value JSON cannot hold (a datetime or a set in metadata or filters, NaN,
    metadata keys that are not strings) is refused as the embedded API refuses it, with its class,
    ``field`` and message, instead of leaking json's TypeError / ValueError (or sending ``{1: ..}``
    as ``{"1": ..}``)."""
    metadata = body.get("metadata")
    if isinstance(metadata, Mapping) and not all(isinstance(k, str) for k in metadata):
        check_metadata(metadata)
    try:
        return _dumps(body)
    except (TypeError, ValueError) as exc:
        for key, value in body.items():
            try:
                _dumps(value)
            except (TypeError, ValueError) as why:
                if key == "metadata":
                    check_metadata(value)
                if key == "filters":  # the core's own word for it (a depth no server refuses first)
                    parse_filter(value, max_depth=10**6, max_terms=10**9)
                    raise InvalidFilterError(f"filters: {why}", field="filters") from why
                raise InvalidInputError(f"{key} must be JSON-serialisable: {why}", field=key) from why
        raise InvalidInputError(f"the request is not JSON-serialisable: {exc}") from exc


class AsyncMemoryClient:
    """A memoryd server's memory, with :class:`AsyncMemory`'s names, arguments and results.

    ``async with AsyncMemoryClient("http://127.0.0.1:8420", api_key=KEY) as mem:``. ``api_key``
    goes as ``Authorization: Bearer``; ``tenant`` (an admin key's choice of tenant) as
    ``X-Memoryd-Tenant``; ``timeout`` in seconds, per request. ``max_retries``: how many times a
    request is sent again, after a wait (the server's ``Retry-After``, else 0.5 s doubling), when
    it was not carried out: a 429 or a 503 answer, or no connection made (refused, timed out, or
    none of the client's own pool free in time); a read (a GET, a search, a list, a context) also
    when its answer was lost (a timeout, a dropped connection, a proxy's 502 or 504). A write whose
    answer was lost is never sent again: it may have been stored. An add is sent again under the
    same ``event_id`` (one made here when none is given): see :meth:`add`."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        tenant: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError("max_retries must be a whole number, 0 or more", field="max_retries")
        self.max_retries = max_retries
        if not _a_timeout(timeout):  # "5" was a TypeError, NaN a ValueError, 0 or -1 "did not answer"
            raise ConfigError(
                f"timeout must be a number of seconds over 0 (or None: no limit), not {timeout!r}",
                field="timeout",
            )
        for name, value in (("api_key", api_key), ("tenant", tenant)):  # sent as HTTP header values
            if value is not None and not (isinstance(value, str) and value.isascii() and value.isprintable()):
                raise ConfigError(f"{name} must be printable ASCII text (it is sent in a header)", field=name)
        if not isinstance(base_url, str):
            raise ConfigError("base_url must be a URL such as http://127.0.0.1:8420", field="base_url")
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": "memoryd-remote"}
        if api_key is not None:
            headers["Authorization"] = f"Bearer {api_key}"
        if tenant is not None:
            headers[TENANT_HEADER] = tenant
        self.tenant = tenant
        self._make = lambda: httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout)
        try:
            first = self._make()
        except (httpx.InvalidURL, ValueError) as exc:
            raise ConfigError(f"base_url {base_url!r} is not a URL: {exc}", field="base_url") from exc
        # An HTTP client's connections belong to the event loop that opened them: one client per
        # loop (a second ``asyncio.run`` gets its own), the first made here, bound at the first call.
        self._unbound: httpx.AsyncClient | None = first
        self._clients: dict[asyncio.AbstractEventLoop, tuple[httpx.AsyncClient, _Closer]] = {}
        self._closed = False
        self._binding = threading.Lock()
        url = first.base_url
        if url.scheme not in ("http", "https") or not url.host:  # "127.0.0.1:8420" was "unreachable"
            raise ConfigError(
                f"base_url {base_url!r} is not an http:// or https:// URL with a host, such as "
                "http://127.0.0.1:8420",
                field="base_url",
            )

    async def close(self) -> None:
        """Close the calling loop's connections (another loop's closed at its end); the client can
        no longer be used."""
        self._closed = True
        here = asyncio.get_running_loop()
        with self._binding:
            mine = self._clients.get(here)
            kept = self._clients.items()
            self._clients = {loop: c for loop, c in kept if loop is not here and not loop.is_closed()}
            unbound, self._unbound = self._unbound, None
        if unbound is not None:
            await unbound.aclose()
        if mine is not None:
            await mine[1].aclose()  # closes its client (_closed_at_end)

    async def _http(self) -> httpx.AsyncClient:
        """The calling loop's HTTP client (see ``__init__``); refused once closed."""
        self._open()
        loop = asyncio.get_running_loop()
        bound = self._clients.get(loop)
        if bound is None:
            with self._binding:  # loops of other threads may bind theirs meanwhile
                client, self._unbound = self._unbound or self._make(), None
                closer = _closed_at_end(client)
                alive = {other: c for other, c in self._clients.items() if not other.is_closed()}
                self._clients = {**alive, loop: (client, closer)}
            await anext(closer)  # now the loop closes it when it shuts down
            return client
        return bound[0]

    def _open(self) -> None:
        if self._closed:  # not httpx's "Cannot send a request, as the client has been closed."
            raise RuntimeError("this AsyncMemoryClient is closed: make a new one")

    async def __aenter__(self) -> AsyncMemoryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        read: Callable[[Any], T] = lambda body: body,
    ) -> T:
        """Send one request; its JSON answer read by ``read`` (a parse function)."""
        self._open()
        _check_utf8(body)
        _check_utf8(params)
        content = None if body is None else _encode(body)
        headers = None if body is None else {"Content-Type": "application/json"}
        reads = method == "GET" or path in _READS
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            wait = _BACKOFF_S * 2**attempt
            try:
                response = await (await self._http()).request(
                    method, path, content=content, params=params, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:  # nothing was sent
                # (PoolTimeout: no connection of the client's pool came free in time)
                if last:
                    raise unreachable(self.base_url, exc) from exc
            except httpx.TransportError as exc:  # sent, its answer lost: a write may have been stored
                if last or not reads:
                    raise unreachable(self.base_url, exc) from exc
            except httpx.HTTPError as exc:  # an answer that cannot be read (DecodingError): none leaves
                raise self._not_memoryd(method, path, f"unreadably ({exc})") from exc
            else:
                said, status = retry_after(response), response.status_code
                again = status in _RETRY_STATUSES or (reads and status in _LOST_STATUSES)
                if last or not again or (said or 0) > MAX_RETRY_WAIT_S:
                    break
                wait = wait if said is None else said
            await asyncio.sleep(wait)
        if response.status_code >= 400:
            raise from_response(response)
        try:
            answer = response.json()
        except ValueError as exc:
            raise self._not_memoryd(method, path, f"{response.status_code} without JSON") from exc
        try:
            return read(answer)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:  # another API's JSON
            what = f"{response.status_code} with JSON that is not memoryd's ({type(exc).__name__}: {exc})"
            raise self._not_memoryd(method, path, what) from exc

    def _not_memoryd(self, method: str, path: str, what: str) -> MemorydError:
        return MemorydError(f"{method} {self.base_url}{path} answered {what}: is base_url a memoryd server?")

    # -- writing -----------------------------------------------------------
    async def add(
        self,
        messages: Any,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        timestamp: Any = None,
        mode: str | None = None,
        event_id: str | None = None,
    ) -> AddResults:
        """As :meth:`AsyncMemory.add`. ``event_id``: the async pipeline's idempotency key; with the
        pipeline on, the result is a :class:`memoryd.remote.parse.Submitted` (empty when queued).

        An add given no ``event_id`` is sent with one made here (a UUID), the same in every attempt.
        A 503 is sent again, and with the pipeline on it may come after Redis took the event but
        answered too late: refused (``on_unavailable = "reject"``), or the add then processed at
        once failing in the store (``"sync"``). Sent again without an id, the server named it anew
        and a worker applied both events; under one id it is queued once, and the attempt after is
        answered as that event (a NOOP). The id is made here, not read from the 503, because the
        first attempt is the one Redis may have taken, and not every 503 names it. With the pipeline
        off the server applies the add once under the id as well, and the result is the
        :class:`AddResults` the embedded API returns, as when no id is sent (a :class:`Submitted`
        naming the event, with no results, when that id was applied already)."""
        given = event_id is not None
        fields = _given(user_id=user_id, agent_id=agent_id, run_id=run_id, metadata=metadata,
                        timestamp=_when(timestamp, "timestamp"), mode=mode)  # fmt: skip
        body = {"messages": _messages(messages), **fields}
        body["event_id"] = event_id if given else str(uuid.uuid4())  # one for every attempt

        def read(answer: Any) -> AddResults:
            if not given and isinstance(answer, dict) and "pipeline" not in answer:  # the id echoed only
                answer = {k: v for k, v in answer.items() if k != "event_id"}
            return parse.add_results(answer)

        return await self._call("POST", "/v1/memories", body=body, read=read)

    async def update(
        self,
        memory_id: str,
        text: str | None = None,
        *,
        metadata: dict[str, Any] | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        merge_metadata: bool = False,
    ) -> UpdateResult:
        path = _memory_path(memory_id)  # checked before the scope, as the core does
        params = _owner(user_id, agent_id, run_id)
        body = _given(text=text, metadata=metadata)
        if check_bool("merge_metadata", merge_metadata):  # merged by the server, under the write lock
            body["merge_metadata"] = True
        return await self._call("PATCH", path, body=body, params=params, read=parse.update_result)

    async def delete(
        self,
        memory_id: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> list[MemoryRecord]:
        """As :meth:`AsyncMemory.delete`: the memory as it was, then the rule memories that went
        with it."""
        path = _memory_path(memory_id)
        return await self._call("DELETE", path, params=_owner(user_id, agent_id, run_id), read=parse.deleted)

    async def delete_all(
        self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> int:
        params = _owner(user_id, agent_id, run_id)
        return await self._call("DELETE", "/v1/memories", params=params, read=parse.count)

    # -- reading -----------------------------------------------------------
    async def get(
        self,
        memory_id: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> MemoryRecord:
        path = _memory_path(memory_id)
        return await self._call("GET", path, params=_owner(user_id, agent_id, run_id), read=parse.record)

    async def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: dict[str, Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
        as_of: Any = None,
        include_expired: bool = False,
    ) -> Page:
        when = _when(as_of, "as_of")
        body = _given(user_id=user_id, agent_id=agent_id, run_id=run_id, filters=_filters(filters),
                      limit=limit, as_of=when)  # fmt: skip
        # sent as given, None too: refused as the core refuses it, not read as the default
        body.update(offset=offset, include_expired=check_bool("include_expired", include_expired))
        return await self._call("POST", "/v1/memories/list", body=body, read=parse.page)

    async def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: dict[str, Any] | None = None,
        limit: int | None = None,
        threshold: float | None = None,
        as_of: Any = None,
        explain: bool = False,
        graph_hops: int = 0,
        reference_time: Any = None,
    ) -> SearchResults:
        when, now = _when(as_of, "as_of"), _when(reference_time, "reference_time")
        body = _given(query=query, user_id=user_id, agent_id=agent_id, run_id=run_id,
                      filters=_filters(filters), limit=limit, threshold=threshold, as_of=when,
                      explain=check_bool("explain", explain), reference_time=now)  # fmt: skip
        body["graph_hops"] = graph_hops  # None too: refused as the core refuses it
        scope = Scope(user_id, agent_id, run_id)
        read = lambda found: parse.search_results(found, scope)  # noqa: E731
        return await self._call("POST", "/v1/memories/search", body=body, read=read)

    async def context(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        token_budget: int | None = None,
        exclude: Sequence[str] = (),
        reference_time: Any = None,
    ) -> Context:
        body = _given(query=query, user_id=user_id, agent_id=agent_id, run_id=run_id,
                      token_budget=token_budget,
                      reference_time=_when(reference_time, "reference_time"))  # fmt: skip
        if exclude:  # a string alone is refused as the core refuses it (its letters are no texts)
            body["exclude"] = check_texts("exclude", exclude, 10**9)
        return await self._call("POST", "/v1/context", body=body, read=parse.context)

    async def history(
        self,
        memory_id: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> list[HistoryEntry]:
        path = _memory_path(memory_id, "/history")
        return await self._call("GET", path, params=_owner(user_id, agent_id, run_id), read=parse.history)

    # -- owners and the store ------------------------------------------------
    async def users(self, *, user_id: str | None = None) -> list[dict[str, Any]]:
        return await self._call("GET", "/v1/users", params=_owner(user_id, None, None), read=parse.rows)

    async def tree(
        self,
        user_id: str | None = None,
        *,
        agent_id: str | None = None,
        episodes: int = 20,
        long_term: int = LONG_TERM_SHOWN,
        segments: int = SEGMENTS_SHOWN,
    ) -> dict[str, Any]:
        # Refused here as the core refuses it, field named.
        tree_owner(user_id, agent_id, episodes, long_term=long_term, segments=segments)
        shown = {"episodes": episodes, "long_term": long_term, "segments": segments}
        if user_id is None:
            path, params = f"/v1/agents/{_segment(str(agent_id))}/tree", shown
        else:
            path = f"/v1/users/{_segment(user_id)}/tree"
            params = _given(agent_id=agent_id, **shown)
        return await self._call("GET", path, params=params, read=parse.tree)

    async def delete_user(self, user_id: str) -> int:
        if not isinstance(user_id, str) or not user_id.strip():
            raise InvalidInputError("user_id must be a non-empty string", field="user_id")
        return await self._call("DELETE", f"/v1/users/{_segment(user_id)}", read=parse.count)

    async def reset(self) -> None:
        await self._call("POST", "/v1/reset")

    async def health(self) -> dict[str, Any]:
        """The server's ``/health`` report, as :meth:`AsyncMemory.health` gives the store's (one
        that says a dependency is down comes back too: its ``status`` says so)."""
        self._open()
        try:
            response = await (await self._http()).get("/health")
        except httpx.TransportError as exc:
            raise unreachable(self.base_url, exc) from exc
        except httpx.HTTPError as exc:  # an answer that cannot be read (DecodingError)
            raise BackendUnavailableError(f"{self.base_url}/health answered unreadably: {exc}") from exc
        if response.status_code not in (200, 503):
            raise from_response(response)
        try:
            return parse.mapping(response.json())
        except (ValueError, TypeError) as exc:
            raise BackendUnavailableError(f"{self.base_url}/health answered without a JSON object") from exc
