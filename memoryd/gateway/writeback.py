"""Write-back: each completed chat turn becomes memories, off the client's path.

After an answer is complete (for a stream, after its last chunk) the user's
last message and the answer are added as one turn of the user's session:
through the async pipeline when it is on (a durable event, source
``gateway``), else with :meth:`AsyncMemory.add`. The client's response never
waits for it.

Turns wait in a queue per conversation (tenant, pipeline or not, user,
session, model) and a few writer tasks store them in order, every turn
waiting in a conversation at once — one add of their messages (batches of at most :data:`BATCH` turns): one
embedding call, one transaction. Under load that is several times cheaper than
an add per turn; a quiet conversation's turn is written as soon as a writer is
free, alone. Given ``stores`` (the server's), each try looks its tenant's store up again, held
open until the try ends: the store the chat call looked up may have been closed since (past
``auth.max_open_tenants``, while a long answer streamed or the turn waited), and nothing it is
written through is held longer. A storage failure is retried a few times with a back-off; a batch the store
refuses as bad input is stored again a turn at a time, so only the turn at fault is lost.
An event queue that is down while ``pipeline.on_unavailable = "reject"`` drops nothing: the
pipeline refuses the add (its 503 asks a client to retry, and a write-back has no client), so
the batch is tried again, with the same event id (never queued twice), every
:data:`QUEUE_RETRY_MAX_S` at most, for as long as the queue is down — it is never processed
here instead, the load an operator who chose ``reject`` keeps off the API nodes;
``counts["waiting_for_queue"]`` says how many turns wait so.
:meth:`WriteBack.drain` lets the server finish what is queued before it closes
the store: a batch the queue still refuses then (twice, at once) is stored directly, as with
the pipeline off
(nothing else would keep it; an event of it Redis did take is a NOOP when a worker reaches
it, an exact duplicate), and what could not be stored in time is counted ``lost`` and logged
as an error, with the number of turns; :meth:`WriteBack.forget` drops the turns of a user
being deleted.
Nothing else is dropped: when :data:`MAX_PENDING` turns wait (a server
taking more turns than it can store, for minutes, or an event queue down for long),
:meth:`WriteBack.room` makes new chat calls wait for room before they start — back-pressure on
clients rather than lost turns; the async pipeline is the way to absorb such
bursts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, NamedTuple

from memoryd.config import DEFAULT_TENANT, LimitsConfig
from memoryd.errors import BackendUnavailableError, InvalidInputError, MemorydError, QueueUnavailableError
from memoryd.pipeline.events import AddPayload, new_event_id
from memoryd.unicode import replace_lone_surrogates
from memoryd.wording import counted

__all__ = ["BATCH", "MAX_PENDING", "QUEUE_RETRY_MAX_S", "RETRIES", "Stores", "Turn", "WriteBack"]

log = logging.getLogger("memoryd.gateway")

RETRIES = (0.2, 1.0, 5.0)  # back-off before each retry of a synchronous write-back
# Longest pause between tries of a batch the event queue refused (it is down, on_unavailable is
# "reject"): the pauses start at RETRIES[0] and double up to this, for as long as it is down.
QUEUE_RETRY_MAX_S = 5.0
MAX_PENDING = 10_000
BATCH = 64  # turns of one conversation stored by one add, at most

# ``stores(tenant, view)``: the tenant's store as it is open now, held open for the block, seen as
# ``view`` (the one a chat call had: the store itself, or a user key's view of it) sees its store.
Stores = Callable[[str, Any], AbstractAsyncContextManager[Any]]


def _turns(n: int) -> str:
    """``n`` write-back turns, in words: "1 write-back turn", "3 write-back turns"."""
    return counted(n, "write-back turn", "write-back turns")


def _text(text: str, max_chars: int) -> str:
    """A message as stored: cut to the store's limit, and a lone surrogate (an emoji's half, as an
    answer cut at its token limit may end with, JSON-escaped) made U+FFFD, which UTF-8 can
    carry: the store refuses such text as bad input, which would lose the whole turn."""
    return replace_lone_surrogates(text[:max_chars])


@dataclass(frozen=True)
class Turn:
    """One exchange to remember; ``answer`` empty: the user's message alone (an answer cut short)."""

    user_id: str
    session_id: str | None
    question: str
    answer: str
    model: str

    def messages(self, max_chars: int) -> list[dict[str, str]]:
        out = [{"role": "user", "content": _text(self.question, max_chars)}]
        if self.answer:
            out.append({"role": "assistant", "content": _text(self.answer, max_chars)})
        return out


class _Key(NamedTuple):
    """What makes a conversation: names, never the per-request views the server builds."""

    tenant: str
    pipeline: bool  # through the async pipeline, or stored directly
    user_id: str
    session_id: str | None
    model: str


@dataclass
class _Conversation:
    """Turns of one conversation waiting to be stored, and how to store them (the latest view)."""

    key: _Key
    memory: Any  # the store, or the view of it, a turn came through (without ``stores``: written to)
    pipeline: Any
    turns: deque[tuple[Turn, bool]]  # each with whether a storage failure is retried


class WriteBack:
    """Queues write-backs per conversation, stores them in batches, counts what became of them."""

    def __init__(self, limits: LimitsConfig, *, concurrency: int = 4, stores: Stores | None = None) -> None:
        self.limits = limits
        self.concurrency = concurrency
        self.stores = stores
        self.batch = max(1, min(BATCH, limits.max_messages_per_add // 2))
        self._waiting: OrderedDict[_Key, _Conversation] = OrderedDict()
        # Conversations a writer is storing (order must hold), each with a future set when it is done.
        self._busy: dict[_Key, asyncio.Future[None]] = {}
        self._writers: set[asyncio.Task[None]] = set()
        self._pending = 0  # turns queued or being written
        self._idle = asyncio.Event()
        self._idle.set()
        self._room = asyncio.Event()
        self._room.set()
        # Counters, and one gauge: waiting_for_queue, the turns whose batch the event queue refused
        # (it is down) and which are tried again until it answers.
        self.counts = dict.fromkeys(
            ("scheduled", "queued", "stored", "stored_without_llm", "failed", "forgotten", "lost", "waited",
             "batches", "waiting_for_queue"),
            0,
        )  # fmt: skip
        self._dropping: set[_Key] = set()  # conversations being forgotten while a writer holds a batch
        self._sleepers: set[asyncio.Future[None]] = set()  # pauses before a try, cut short by _wake
        self._queue_error: str | None = None  # why the event queue refused the last batch
        self._closing = False  # drain() began: a batch the queue refuses is stored directly
        self._fallbacks = 0  # batches stored in fine mode's fallback (the LLM failed)

    async def room(self) -> None:
        """Wait while :data:`MAX_PENDING` write-backs are pending (back-pressure, never a drop)."""
        if self._pending < MAX_PENDING:
            return
        self.counts["waited"] += 1
        if self.counts["waited"] == 1 or self.counts["waited"] % 1000 == 0:
            remedy = (
                "they are stored once the event queue answers again"
                if self.counts["waiting_for_queue"]
                else "turn on the async pipeline to absorb this load"
            )
            log.warning(
                "gateway: %d write-backs pending; new chat calls wait for room (%d so far): %s",
                self._pending, self.counts["waited"], remedy,
            )  # fmt: skip
        while self._pending >= MAX_PENDING:
            self._room.clear()
            await self._room.wait()

    def schedule(
        self, memory: Any, pipeline: Any, turn: Turn, *, retry: bool = True, tenant: str = DEFAULT_TENANT
    ) -> None:
        """Queue ``turn`` for writing; returns at once. ``retry``: try again after a storage failure.

        ``memory`` and ``pipeline`` are how this turn is written: ``tenant``'s store (or a view of it,
        such as a user key's) and the pipeline (or ``None``). The server builds such views for each
        request, so they do not tell conversations apart: ``tenant`` does, with the user, session and
        model; a batch is written through the view of its conversation's latest turn (with
        ``stores``, over ``tenant``'s store as it is open when the batch is written)."""
        key = _Key(tenant, pipeline is not None, turn.user_id, turn.session_id, turn.model)
        conversation = self._waiting.get(key)
        if conversation is None:
            conversation = self._waiting[key] = _Conversation(key, memory, pipeline, deque())
        conversation.memory, conversation.pipeline = memory, pipeline
        conversation.turns.append((turn, retry))
        self.counts["scheduled"] += 1
        self._pending += 1
        self._idle.clear()
        # A task is done as soon as its coroutine returns (its done-callbacks run later): counting the
        # writers not done, a turn queued in the very iteration the last writers return gets one.
        if sum(not w.done() for w in self._writers) < self.concurrency:
            writer = asyncio.get_running_loop().create_task(self._writer())
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)

    async def forget(self, tenant: str, user_id: str | None) -> int:
        """Drop the queued turns of ``user_id`` in ``tenant`` (``None``: of every user) and wait for
        those being written (the user, or the store, is being erased), dropping those that wait for
        the event queue rather than waiting as long as it is down. Returns how many were dropped."""

        def whose(key: _Key) -> bool:
            return key.tenant == tenant and user_id in (None, key.user_id)

        before = self.counts["forgotten"]
        dropped = 0
        for key in [k for k in self._waiting if whose(k)]:
            dropped += len(self._waiting.pop(key).turns)
        self.counts["forgotten"] += dropped
        self._settled(dropped)
        # A batch waiting for the event queue would wait as long as it is down: it is dropped too.
        busy = {k: done for k, done in self._busy.items() if whose(k)}
        if busy:
            self._dropping.update(busy)
            self._wake()
            try:
                await asyncio.wait(busy.values())
            finally:
                self._dropping.difference_update(busy)
        return self.counts["forgotten"] - before

    @property
    def in_flight(self) -> int:
        """Turns queued or being written."""
        return self._pending

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for the queued write-backs (at most ``timeout_s``, then the writers are cancelled)."""
        self._closing = True
        if self._pending == 0:
            return
        if waiting := self.counts["waiting_for_queue"]:
            log.warning(
                "gateway: the event queue refuses writes (%s) at shutdown: %s waiting for it %s "
                "stored directly in the store instead", self._queue_error,
                _turns(waiting), "is" if waiting == 1 else "are",
            )  # fmt: skip
            self._wake()  # a batch waiting for the queue is stored now, not after its pause
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            users = {(k.tenant, k.user_id) for k in (*self._busy, *self._waiting)}
            why = (
                f"the event queue refuses writes ({self._queue_error})"
                if self.counts["waiting_for_queue"]
                else f"not stored within {timeout_s:g} s"
            )
            log.error(
                "gateway: %s of %s %s not stored at shutdown and %s lost: %s",
                _turns(self._pending), counted(len(users), "user", "users"),
                *(("was", "is") if self._pending == 1 else ("were", "are")), why,
            )  # fmt: skip
            self.counts["lost"] += self._pending
            for writer in list(self._writers):
                writer.cancel()
            await asyncio.gather(*self._writers, return_exceptions=True)

    def _next(self) -> tuple[_Conversation, list[tuple[Turn, bool]]] | None:
        """The oldest conversation with turns and no writer, and its next batch of turns.

        Stored directly, the adds of one user take turns (a per-user lock in the store), so a user
        with a writer already gets no second one: the other writers go to other users' turns."""
        writing = {(k.tenant, k.user_id) for k in self._busy if not k.pipeline}
        for key, conversation in self._waiting.items():
            if key in self._busy or (not key.pipeline and (key.tenant, key.user_id) in writing):
                continue
            batch = [conversation.turns.popleft() for _ in range(min(self.batch, len(conversation.turns)))]
            if not conversation.turns:
                del self._waiting[key]
            else:
                self._waiting.move_to_end(key)  # others' turns next: no conversation starves the rest
            self._busy[key] = asyncio.get_running_loop().create_future()
            return conversation, batch
        return None

    async def _writer(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            conversation, batch = job
            try:
                await self._write(conversation, batch)
            finally:
                self._busy.pop(conversation.key).set_result(None)
                self._settled(len(batch))

    def _settled(self, turns: int) -> None:
        """``turns`` are no longer pending (stored, failed or forgotten)."""
        self._pending -= turns
        if self._pending < MAX_PENDING:
            self._room.set()
        if self._pending == 0:
            self._idle.set()

    async def _write(self, conversation: _Conversation, batch: list[tuple[Turn, bool]]) -> None:
        messages = [m for turn, _ in batch for m in turn.messages(self.limits.max_message_chars)]
        metadata = {"source": "gateway", "model": conversation.key.model}
        retry = all(r for _, r in batch)
        key = conversation.key
        who = {"user_id": key.user_id, "run_id": key.session_id}
        # One event id for every try: a try whose answer was lost (Redis took the event, then timed
        # out) is then recognised by the retry, not queued a second time under a new id.
        event_id = new_event_id()
        self.counts["batches"] += 1
        pauses = iter(RETRIES if retry else ())
        attempt = refused = 0  # tries, and of them those the event queue refused
        refused_closing = 0  # of those, refusals since drain() began
        try:
            while True:
                attempt += 1
                try:
                    direct = refused_closing >= 2  # shutting down: stored here rather than lost
                    async with self._store(conversation) as memory:
                        if conversation.pipeline is not None and not direct:
                            payload = AddPayload(messages, metadata=metadata, **who)
                            submission = await conversation.pipeline.submit_add(
                                memory, payload, event_id=event_id, source="gateway"
                            )
                            queued = submission.pipeline == "queued"
                            self.counts["queued" if queued else "stored"] += len(batch)
                        else:
                            added = await memory.add(messages, metadata=metadata, **who)
                            self.counts["stored"] += len(batch)
                            self._fell_back(conversation, len(batch), added)
                    if refused and not direct and self.counts["waiting_for_queue"] == len(batch):
                        log.info("gateway: the event queue answers again; write-backs that waited are queued")
                    return
                except QueueUnavailableError as exc:
                    # Not this turn's fault, nor one a client will retry: wait for the queue.
                    self._queue_error = exc.reason
                    if refused == 0:
                        if self.counts["waiting_for_queue"] == 0:
                            log.warning(
                                "gateway: the event queue refuses writes (%s) and "
                                "they are not taken synchronously: write-backs wait, tried again "
                                "until it answers",
                                self._queue_error,
                            )  # fmt: skip
                        self.counts["waiting_for_queue"] += len(batch)
                    refused += 1
                    if self._closing and key not in self._dropping:
                        refused_closing += 1  # once more through the queue at once, then directly
                        continue
                    if not await self._wait_for_queue(conversation, len(batch), refused):
                        return
                    continue
                except BackendUnavailableError as exc:
                    pause = next(pauses, None)
                    if pause is None:
                        self._failed(conversation, len(batch), exc, attempt)
                        return
                    await asyncio.sleep(pause)
                except InvalidInputError as exc:
                    if len(batch) > 1:  # one turn the store refuses (a NUL-only question) drops only itself
                        for item in batch:
                            await self._write(conversation, [item])
                        return
                    self._failed(conversation, len(batch), exc, attempt)
                    return
                except MemorydError as exc:
                    self._failed(conversation, len(batch), exc, attempt)
                    return
                except Exception as exc:  # noqa: BLE001 - a background task logs; nothing else would
                    log.exception("gateway write-back for user %r failed", key.user_id)
                    self._failed(conversation, len(batch), exc, attempt)
                    return
        finally:
            if refused:
                self.counts["waiting_for_queue"] -= len(batch)

    async def _wait_for_queue(self, conversation: _Conversation, turns: int, refused: int) -> bool:
        """The pause before the next try of a batch the event queue refused; False: do not try
        again, the conversation is being forgotten (its user deleted)."""
        key = conversation.key
        if key not in self._dropping:
            first = RETRIES[0] if RETRIES else QUEUE_RETRY_MAX_S
            await self._pause(min(QUEUE_RETRY_MAX_S, first * 2 ** (refused - 1)))
        if key in self._dropping:
            self.counts["forgotten"] += turns
            return False
        return True

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if :meth:`_wake` is called meanwhile."""
        wake = asyncio.get_running_loop().create_future()
        self._sleepers.add(wake)
        try:
            await asyncio.wait_for(wake, seconds)
        except TimeoutError:
            pass
        finally:
            self._sleepers.discard(wake)

    def _wake(self) -> None:
        """End the pauses of the batches waiting for the event queue: they try now."""
        for wake in self._sleepers:
            if not wake.done():
                wake.set_result(None)

    def _store(self, conversation: _Conversation) -> AbstractAsyncContextManager[Any]:
        """What one try writes through: the conversation's store as it is now, held for the try."""
        if self.stores is None:
            return nullcontext(conversation.memory)
        return self.stores(conversation.key.tenant, conversation.memory)

    def _fell_back(self, conversation: _Conversation, turns: int, added: Any) -> None:
        """Count (and log, the first time and every 100th) turns stored with fine mode asked for and
        the LLM failing: their episodes and the fast-mode rules' memories, without its facts."""
        llm = getattr(added, "llm", None)
        if llm is None or llm.fallback is None:
            return
        self.counts["stored_without_llm"] += turns
        batches = self._fallbacks = self._fallbacks + 1
        if batches == 1 or batches % 100 == 0:
            log.warning(
                "gateway: %s for user %r stored without the LLM's extraction "
                "(%s so far): %s", _turns(turns), conversation.key.user_id,
                counted(batches, "batch", "batches"), llm.fallback,
            )  # fmt: skip

    def _failed(self, conversation: _Conversation, turns: int, exc: Exception, attempts: int) -> None:
        self.counts["failed"] += turns
        reason = exc.message if isinstance(exc, MemorydError) else type(exc).__name__
        log.warning(
            "gateway write-back of %s for user %r dropped after %s: %s",
            counted(turns, "turn", "turns"), conversation.key.user_id,
            counted(attempts, "attempt", "attempts"), reason,
        )  # fmt: skip
