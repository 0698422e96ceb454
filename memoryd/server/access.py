"""What a route may touch: the caller's tenant store, restricted to its user for a ``user`` key.

The dependencies in :mod:`memoryd.server.health` hand routes the objects built
here, never the raw server-wide ones, so the restriction holds for every route.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from fastapi import Request

from memoryd.auth.bound import UserBoundMemory, own_user
from memoryd.auth.principal import ANONYMOUS, Principal
from memoryd.errors import AuthenticationError, BackendUnavailableError, QueueUnavailableError
from memoryd.llm import Router
from memoryd.memory import AsyncMemory
from memoryd.pipeline import Pipeline
from memoryd.pipeline.base import Between, EventRecord
from memoryd.pipeline.events import AddPayload
from memoryd.pipeline.metrics import MetricsText
from memoryd.pipeline.producer import Submission, add_now
from memoryd.pipeline.redis_url import display_url
from memoryd.server.auth import OPEN_PATHS, OPEN_PREFIX, TENANT_HEADER
from memoryd.tenancy import Tenants

__all__ = ["PipelineView", "add_once", "memory_for", "principal_of", "queue_unplaced"]


def principal_of(request: Request) -> Principal:
    """The caller (set by :class:`memoryd.server.auth.AuthMiddleware`). A request without one is
    the anonymous caller only on a path the middleware leaves open (``/metrics``, the probes); on
    any other it gets no rights at all (401): a route reached without the middleware (an app that
    serves these routes without it) must not act as an admin."""
    try:
        principal = request.state.principal
    except AttributeError:
        path = request.scope.get("path", "")
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIX):
            return ANONYMOUS
        raise AuthenticationError(
            "refused: no API key was checked for this request (memoryd's authentication did not run)"
        ) from None
    if principal is None:
        raise BackendUnavailableError("memoryd is starting or shutting down; retry shortly")
    return cast(Principal, principal)


async def memory_for(request: Request, tenants: Tenants, *, create: bool = False) -> AsyncMemory:
    """The caller's view of the memory: its tenant's store; bound to its user for a user key.
    A tenant an admin names (``X-Memoryd-Tenant``) that has no store is a 404 unless ``create``
    (an add makes it): a typo must not read as an empty tenant. A key's own tenant is made on
    first use."""
    principal = principal_of(request)
    named = principal.is_admin and request.headers.get(TENANT_HEADER) is not None
    memory = await tenants.get(principal.tenant, create=create or not named)
    if principal.user_id is not None:
        # Same calls, same arguments, every one the key's user's (see memoryd.auth.bound).
        return cast(AsyncMemory, UserBoundMemory(memory, principal.user_id))
    return memory


async def add_once(request: Request, memory: AsyncMemory, payload: AddPayload, event_id: str) -> Submission:
    """With the async pipeline off, the caller's add under its ``event_id``, applied once
    (:func:`memoryd.pipeline.producer.add_now`): ids of the caller's tenant, and of its user for
    a user key, as the pipeline keeps them."""
    principal = principal_of(request)
    payload, limits = _owned(principal, payload), memory.settings.limits
    return await add_now(
        memory, payload, event_id, limits=limits, tenant=principal.tenant, owner=principal.user_id
    )


def _owned(principal: Principal, payload: AddPayload) -> AddPayload:
    """``payload`` as ``principal`` may add it: a user-bound key's for its own user (whose event ids
    are its own), anyone else's as given."""
    owner = principal.user_id
    return payload if owner is None else payload.with_user(own_user(owner, payload.user_id))


class PipelineView:
    """The async pipeline as one caller sees it: events of its tenant (and user, for a user key)."""

    def __init__(self, pipeline: Pipeline, principal: Principal, router: Router | None = None) -> None:
        self.pipeline = pipeline
        self.principal = principal
        self.router = router  # the LLM's targets, whose addresses a user key is not shown

    @property
    def queue(self) -> Any:
        return self.pipeline.queue

    async def submit_add(
        self, memory: AsyncMemory, payload: AddPayload, *, event_id: str | None = None, source: str = "api"
    ) -> Submission:
        owner = self.principal.user_id  # a user-bound key: its event ids are its user's own
        payload = _owned(self.principal, payload)
        with self._unplaced_errors():
            done = await self.pipeline.submit_add(
                memory, payload, event_id=event_id, source=source, tenant=self.principal.tenant, owner=owner
            )
        if owner is None or done.reason is None:
            return done
        return replace(done, reason=self._unplaced(done.reason))

    async def forget_user(self, user_id: str | None, between: Between | None = None) -> int:
        """The queue's mark of the deletion; ``between`` runs with it before the queue's sweep (see
        :meth:`Pipeline.forget_user`)."""
        with self._unplaced_errors():
            return await self.pipeline.forget_user(self.principal.tenant, user_id, between)

    def _unplaced(self, text: str) -> str:
        return queue_unplaced(text, self.pipeline.config.redis_url.get_secret_value())

    @contextmanager
    def _unplaced_errors(self) -> Iterator[None]:
        """For a user key, the queue's failures (Redis unreachable: a 503) name no Redis address;
        service and admin keys, and the logs, keep it."""
        try:
            yield
        except BackendUnavailableError as exc:
            if self.principal.user_id is not None:
                exc.message = self._unplaced(exc.message)
                exc.args = (exc.message,)
                if isinstance(exc, QueueUnavailableError):
                    exc.reason = self._unplaced(exc.reason)
            raise

    async def event(
        self,
        event_id: str,
        *,
        user_id: str | None = None,
        memory: Callable[[], Awaitable[AsyncMemory]] | None = None,
    ) -> EventRecord:
        """An event of the caller's tenant; ``user_id`` names the user whose key gave the id (a
        user key's ids are its own; a user key always looks among its own user's). ``memory``
        (a coroutine function giving the caller's view of its tenant's store, called only when
        Redis cannot be asked) knows the events the synchronous path applied."""
        caller = self.principal
        owner = caller.user_id if caller.user_id is not None else user_id
        with self._unplaced_errors():
            record = await self.pipeline.event(event_id, tenant=caller.tenant, user_id=owner, memory=memory)
        return record if caller.user_id is None or self.router is None else _unplaced(record, self.router)

    async def metrics(self, out: MetricsText) -> None:
        await self.pipeline.metrics(out)

    async def health(self) -> dict[str, Any]:
        return await self.pipeline.health()


def _unplaced(record: EventRecord, router: Router) -> EventRecord:
    """``record`` as a user key sees it: why the LLM fell short, or the event failed, names no
    upstream's address (:meth:`Router.unplaced`), as its synchronous add would not."""
    result, error = record.result, record.error
    if result is not None and isinstance(result.get("llm"), dict):
        llm = dict(result["llm"])
        for key in ("fallback", "incomplete"):
            if isinstance(llm.get(key), str):
                llm[key] = router.unplaced(llm[key])
        result = {**result, "llm": llm}
    if error is not None and isinstance(error.get("message"), str):
        error = {**error, "message": router.unplaced(error["message"])}
    return replace(record, result=result, error=error)


_DRIVER_SAYS = re.compile(r"Redis at .+? is unreachable \((\w+): .*\) trying to ")


def queue_unplaced(text: str, redis_url: str) -> str:
    """``text`` (why the event queue failed) naming no address of Redis (``redis_url``'s host, port,
    database or socket path): what a user-bound key is told, as it is told no LLM upstream's."""
    try:
        url = urlsplit(redis_url)
        host, port, path = url.hostname or "", url.port or 6379, url.path or ""
    except ValueError:
        return text
    where = display_url(redis_url)  # as the queue names it; a unix socket's path (and database)
    path = unquote(path) if url.scheme == "unix" else path
    # The driver's own words name the address in forms of their own ('host', port): only their kind.
    text = _DRIVER_SAYS.sub(r"Redis is unreachable (\1) trying to ", text)
    text = text.replace(f"Redis at {where}", "Redis").replace(where, "the queue's host")
    for place in (f"{host}:{port}", host) if host else (path,):
        if place and place != "/":  # whole names only: a host "r" leaves "Redis" as it is
            text = re.sub(rf"(?<![\w.-]){re.escape(place)}(?![\w-])", "the queue's host", text)
    return text
