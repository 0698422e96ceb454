"""The chat gateway's long-lived parts and the steps of one call, without HTTP.

:class:`Gateway` owns the upstream router (built from ``[llm]``, separate from
fine mode's so its breakers describe chat traffic), the write-back tasks and
the usage meter. For each call :meth:`Gateway.prepare` finds the user and
session, builds the memory block (within ``gateway.memory_timeout_s``; a
store that fails or is too slow means no memory this time, in degraded mode:
the lookup, a task of its own, is cancelled and the call goes on at once) and
injects it; :meth:`Gateway.finish` counts the usage and, for a complete
answer in words, schedules the write-back.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from memoryd.auth.bound import UserBoundMemory
from memoryd.config import DEFAULT_TENANT, Settings
from memoryd.context.tokens import count_tokens
from memoryd.errors import BackendUnavailableError, MemorydError
from memoryd.gateway.identity import Identity, identify, upstream_body
from memoryd.gateway.inject import frame_tokens, inject, query_of, render_block, said
from memoryd.gateway.routing import Route, route
from memoryd.gateway.shapes import Answer, content_text
from memoryd.gateway.usage import StoreFor, UsageMeter, today
from memoryd.gateway.writeback import Stores, Turn, WriteBack
from memoryd.llm import Router, build_router
from memoryd.llm.types import Target
from memoryd.storage.base import UsageRecord

__all__ = [
    "DEGRADED_MEMORY",
    "DEGRADED_SLOW",
    "NO_UPSTREAM_HINT",
    "Gateway",
    "Prepared",
    "server_memories",
    "server_stores",
]

log = logging.getLogger("memoryd.gateway")

# What to set when no upstream LLM is configured: the settings, and the environment variables the
# README's quick start sets them with.
NO_UPSTREAM_HINT = (
    "set llm.model, llm.base_url or llm.tiers "
    "(in the environment: MEMORYD_LLM_BASE_URL, MEMORYD_LLM_API_KEY and MEMORYD_LLM_MODEL)"
)
DEGRADED_MEMORY = "memory_unavailable"  # X-Degraded-Mode: the memory store failed
DEGRADED_SLOW = "memory_timeout"  # X-Degraded-Mode: it did not answer within memory_timeout_s


@dataclass(eq=False)  # one call, itself (kept in a set of the calls in flight)
class Prepared:
    """One call, ready to forward."""

    body: dict[str, Any]  # what goes upstream (memory injected, memoryd's fields removed)
    identity: Identity
    tenant: str
    targets: Route
    query: str | None
    memory: str  # injected | none | passthrough | skipped | degraded | dropped
    injected: int = 0
    memory_tokens: int = 0
    memory_ms: float = 0.0
    degraded: str | None = None
    forgotten: bool = False  # its user (or its tenant's store) was erased while it ran
    finished: bool = False  # counted (:meth:`Gateway.finish` runs once per call)
    sent: list[Any] | None = None  # the caller's messages as sent, once memory is injected in ``body``

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


def server_stores(state: Any) -> StoreFor:
    """Where usage is saved: the usage store of the tenant's raw store (server state's memory)."""

    async def store_for(tenant: str) -> Any:
        if state.memory is None:
            raise BackendUnavailableError("the memory store is closed")
        tenants = getattr(state, "tenants", None)
        memory = await tenants.get(tenant) if tenants is not None else state.memory
        return getattr(getattr(memory, "storage", None), "usage", None)

    return store_for


def server_memories(state: Any) -> Stores:
    """What write-backs are written to: the tenant's store as the server has it open when the
    write-back runs (the one its chat call looked up may have been closed since, past
    ``auth.max_open_tenants``), held open while it is written, and seen as the call saw it (a user
    key's view). It never makes a tenant's store (the call that queued the turn did)."""

    @asynccontextmanager
    async def stores(tenant: str, view: Any) -> AsyncIterator[Any]:
        tenants = getattr(state, "tenants", None)
        if state.memory is None or tenants is None:
            raise BackendUnavailableError("the memory store is closed")
        async with tenants.using(tenant, create=False) as memory:
            yield UserBoundMemory(memory, view.user_id) if isinstance(view, UserBoundMemory) else memory

    return stores


class Gateway:
    """The chat gateway of one server."""

    def __init__(
        self,
        settings: Settings,
        store_for: StoreFor,
        *,
        stores: Stores | None = None,
        router: Router | None = None,
        close_router: bool = True,
    ) -> None:
        """``store_for``: where usage is saved; ``stores``: what write-backs are written to (else
        the store each call was given, as it was then)."""
        self.settings = settings
        self.config = settings.gateway
        if router is None and self.config.enabled:
            router = build_router(settings)
        self.router = router
        self._close_router = close_router  # False: the server's, shared with its memory (closes it)
        self.writeback = WriteBack(settings.limits, stores=stores)
        self.meter = UsageMeter(store_for, self.config.usage_flush_s)
        self.counts = {"requests": 0, "streams": 0, "passthrough": 0, "degraded": 0, "dropped": 0,
                       "upstream_failures": 0}  # fmt: skip
        self.memory_state: dict[str, Any] = {"status": "unknown", "error": None, "at": None}
        self._in_flight: weakref.WeakSet[Prepared] = weakref.WeakSet()  # prepared, not finished yet
        self._tokenizer: asyncio.Future[int] | None = None  # frame_tokens(), loading on a thread

    # -- life cycle --------------------------------------------------------------
    @property
    def available(self) -> bool:
        """Whether chat calls can be served (on, with at least one upstream)."""
        return self.config.enabled and self.router is not None

    def start(self) -> None:
        self.meter.start()
        self._frame_tokens()  # the tokenizer loads meanwhile, before the first call needs it

    def _frame_tokens(self) -> asyncio.Future[int]:
        """:func:`frame_tokens`, its tokenizer loaded once on a thread: loaded on the event loop,
        it held every call ~0.3 s, past any ``memory_timeout_s``."""
        if self._tokenizer is None:
            self._tokenizer = asyncio.get_running_loop().run_in_executor(None, frame_tokens)
        return self._tokenizer

    async def aclose(self) -> None:
        """Finish the write-backs in flight, save usage, close the upstream connections."""
        await self.writeback.drain()
        await self.meter.aclose()
        if self.router is not None and self._close_router:
            await self.router.aclose()

    # -- one call ------------------------------------------------------------------
    async def prepare(
        self, memory: Any, body: dict[str, Any], headers: Mapping[str, str], principal: Any
    ) -> Prepared:
        """Route, identify, inject memory. Bad input: :class:`InvalidInputError`, :class:`NotFoundError`."""
        assert self.router is not None
        targets = route(self.router, body.get("model"), self.config)
        identity = identify(body, headers, principal, self.config)
        out = upstream_body(body, identity)
        tenant = str(getattr(principal, "tenant", None) or DEFAULT_TENANT)
        messages = out["messages"]
        query = query_of(messages, self.settings.limits.max_query_chars)
        self.counts["requests"] += 1
        if out.get("stream"):  # a streamed completion (served as server-sent events)
            self.counts["streams"] += 1
        if identity.user_id is None:
            self.counts["passthrough"] += 1
            return self._track(Prepared(out, identity, tenant, targets, query, "passthrough"))
        await self.writeback.room()  # this call will write back: wait if too many are pending
        if query is None:
            return self._track(Prepared(out, identity, tenant, targets, query, "skipped"))
        started = time.perf_counter()
        prepared = self._track(Prepared(out, identity, tenant, targets, query, "none"))
        # The lookup runs as a task of its own, waited for up to memory_timeout_s: past that the
        # call goes on at once, and the lookup is cancelled (it unwinds in the background).
        lookup = asyncio.ensure_future(self._lookup(memory, query, identity, said(messages)))
        try:
            await asyncio.wait((lookup,), timeout=self.config.memory_timeout_s)
        except BaseException:  # this call itself is cancelled (its client left, the server stops)
            _abandon(lookup)
            raise
        if not lookup.done() or lookup.cancelled():
            _abandon(lookup)
            self._degraded(prepared, DEGRADED_SLOW, f"no answer within {self.config.memory_timeout_s:g} s")
        elif (exc := lookup.exception()) is not None:
            if isinstance(exc, BackendUnavailableError):
                self._degraded(prepared, DEGRADED_MEMORY, exc.message)
            elif isinstance(exc, MemorydError):  # the query itself (too long, say): chat on without memory
                log.info("gateway: no memory for this call: %s", exc.message)
                prepared.memory = "skipped"
            else:  # whatever broke in the store, the chat goes on
                log.error("gateway: building the memory block failed", exc_info=exc)
                self._degraded(prepared, DEGRADED_MEMORY, type(exc).__name__)
        else:
            context = lookup.result()
            self.memory_state = {"status": "ok", "error": None, "at": time.time()}
            block, kept = render_block(context.items, messages, self.config.token_budget)
            if block:
                out["messages"] = inject(messages, block, self.config.inject_mode)
                prepared.sent = messages
                prepared.memory, prepared.injected = "injected", len(kept)
                prepared.memory_tokens = count_tokens(block)
        prepared.memory_ms = (time.perf_counter() - started) * 1000
        return prepared

    async def _lookup(self, memory: Any, query: str, identity: Identity, exclude: set[str]) -> Any:
        """The memories for ``query`` (a :class:`Context`), within the token budget."""
        frame = await asyncio.shield(self._frame_tokens())
        return await memory.context(
            query, user_id=identity.user_id, run_id=identity.session_id,
            token_budget=self.config.token_budget - frame, exclude=exclude,
        )  # fmt: skip

    def _track(self, prepared: Prepared) -> Prepared:
        """Note a call in flight, until :meth:`finish` (so that :meth:`forget_user` can reach it)."""
        self._in_flight.add(prepared)
        return prepared

    def _degraded(self, prepared: Prepared, mode: str, why: str) -> None:
        prepared.memory, prepared.degraded = "degraded", mode
        self.counts["degraded"] += 1
        if self.memory_state.get("status") != mode:
            log.warning("gateway: chatting without memory (%s): %s", mode, why)
        self.memory_state = {"status": mode, "error": why, "at": time.time()}

    def drop_memory(self, prepared: Prepared, why: str) -> bool:
        """Take the injected memory out of a call the upstream refused for its length (``why``: in
        its words): the caller's messages exactly as sent go upstream instead, once, and the answer
        says ``X-Memoryd-Memory: dropped`` (no memories, no memory tokens reached the model). False
        if the call carries no memory to drop (the refusal is the caller's own)."""
        if prepared.memory != "injected" or prepared.sent is None:
            return False
        log.info(
            "gateway: the upstream refused a call with %d memories (%d tokens) for its length; "
            "retrying it without them: %s", prepared.injected, prepared.memory_tokens, why,
        )  # fmt: skip
        prepared.body = {**prepared.body, "messages": prepared.sent}
        prepared.memory, prepared.injected, prepared.memory_tokens, prepared.sent = "dropped", 0, 0, None
        self.counts["dropped"] += 1
        return True

    def headers(
        self,
        prepared: Prepared,
        target: Target | None = None,
        request_id: str | None = None,
        *,
        skipped: bool = False,
    ) -> dict[str, str]:
        """The response headers saying what the gateway did, on an answer and on every error after
        the memory lookup alike; ``target``: the one that answered (none when no upstream did);
        ``request_id``: the upstream's id of the request, relayed for its support.

        ``X-Memoryd-Writeback`` (for a call with a user): ``off``, write-back is off
        (``gateway.writeback = false``); ``skipped``, it is on but nothing of this call is written
        back: the caller says so (``skipped``: an error was answered, or :meth:`finish` kept nothing
        of a complete answer, a tool call's), the user's message has no text (no query), or the
        user was erased while the call ran; ``on`` otherwise. A stream's headers go out before its
        answer is known: its ``on`` means the turn is written back if the answer is one that is
        (not a tool call, and the user not erased before it ends)."""
        out = {
            "x-memoryd-memory": prepared.memory,
            "x-memoryd-memories-injected": str(prepared.injected),
            "x-memoryd-memory-tokens": str(prepared.memory_tokens),
            "x-memoryd-memory-ms": f"{prepared.memory_ms:.1f}",
        }
        if target is not None:  # an end user (a user key) is told the model, not the upstream's address
            out["x-memoryd-target"] = target.model if prepared.identity.bound else target.label
        if prepared.identity.user_id is not None:
            kept = not (skipped or prepared.query is None or prepared.forgotten)
            out["x-memoryd-writeback"] = "off" if not self.config.writeback else "on" if kept else "skipped"
        if prepared.degraded:
            out["x-degraded-mode"] = prepared.degraded
        if request_id is not None:
            out["x-memoryd-upstream-request-id"] = request_id
        return out

    def finish(
        self, prepared: Prepared, answer: Answer, *, complete: bool, memory: Any, pipeline: Any
    ) -> bool:
        """Count usage; schedule the write-back of a complete answer in words. True if scheduled.

        Nothing of a call whose user was erased while it ran is kept: not its turn, not its usage.
        A call is finished once: later calls (a stream's clean-up after its relay) do nothing."""
        self._in_flight.discard(prepared)
        if prepared.forgotten or prepared.finished:
            return False
        prepared.finished = True
        usage = answer.usage
        self.meter.record(
            prepared.tenant,
            UsageRecord(
                prepared.identity.user_id, today(), answer.model or str(prepared.body.get("model") or ""),
                requests=1,
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                memory_tokens=prepared.memory_tokens, memories=prepared.injected,
            ),
        )  # fmt: skip
        user = prepared.identity.user_id
        if not (complete and self.config.writeback and user and prepared.query and answer.turn_ended):
            return False
        # An answer cut short (token limit, content filter), or one with no words, is not kept;
        # what the user said is.
        said = answer.text if answer.complete_turn else ""
        turn = Turn(user, prepared.identity.session_id, _question(prepared), said, answer.model or "")
        # A store that just failed the memory lookup gets one try, not a series of retries.
        retry = prepared.degraded != DEGRADED_MEMORY
        self.writeback.schedule(memory, pipeline, turn, retry=retry, tenant=prepared.tenant)
        return True

    def unanswered(self, prepared: Prepared) -> None:
        """:meth:`finish` a call that ends without an answer (an error, a client gone): its request
        counted, nothing written back."""
        self.finish(prepared, Answer(), complete=False, memory=None, pipeline=None)

    async def forget_user(self, tenant: str, user_id: str | None) -> None:
        """Before ``user_id`` of ``tenant`` is deleted (``None``: the tenant's store is reset): drop
        the queued write-backs (waiting for those being written) and the usage not saved yet, so
        neither outlives the deletion; the calls in flight are told to keep nothing when they finish."""
        for call in list(self._in_flight):
            if call.tenant == tenant and user_id in (None, call.identity.user_id):
                call.forgotten = True
        await self.writeback.forget(tenant, user_id)
        await self.meter.forget(tenant, user_id)

    def health(self) -> dict[str, Any]:
        """The gateway's part of ``/health``."""
        if not self.config.enabled:
            return {"status": "off"}
        if self.router is None:
            return {"status": "not configured", "hint": NO_UPSTREAM_HINT}
        stats = self.router.stats()
        up = [t for t in stats["targets"].values() if t["state"] != "open"]
        memory = self.memory_state["status"]
        status = "unavailable" if not up else "degraded" if memory.startswith("memory_") else "ok"
        return {
            "status": status,
            "upstream": "ok" if up else "all targets' circuits are open",
            "memory": dict(self.memory_state),
            "counts": dict(self.counts),
            "writeback": {**self.writeback.counts, "in_flight": self.writeback.in_flight},
            "usage": {"last_error": self.meter.last_error},
            **stats,
        }


def _abandon(lookup: asyncio.Future[Any]) -> None:
    """Cancel a memory lookup no one waits for; whatever it ends with is not reported."""
    lookup.cancel()
    lookup.add_done_callback(lambda done: done.cancelled() or done.exception())


def _question(prepared: Prepared) -> str:
    """The user's last message in full (the query may be its tail only)."""
    for m in reversed(prepared.body.get("messages") or []):
        if isinstance(m, dict) and m.get("role") == "user":
            return content_text(m.get("content"), "\n")  # text parts around an image: not glued
    return prepared.query or ""
