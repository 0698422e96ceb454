"""Write-back: each completed chat turn becomes memories, off the client's path.

After an answer is complete (for a stream, after its last chunk) the user's
last message and the answer are added as one turn of the user's session:
through the async pipeline when it is on (a durable event, source
``gateway``), else with :meth:`AsyncMemory.add`. Either way it runs as a task
of its own, so the client's response never waits for it; a storage failure is
retried a few times with a back-off, and :meth:`WriteBack.drain` lets the
server finish what is in flight before it closes the store. Nothing is
dropped: when :data:`MAX_PENDING` write-backs wait (a server taking more turns
than it can store, for minutes), :meth:`WriteBack.room` makes new chat calls
wait for room before they start — back-pressure on clients rather than lost
turns; the async pipeline is the way to absorb such bursts.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from memoryd.config import LimitsConfig
from memoryd.errors import BackendUnavailableError, MemorydError
from memoryd.pipeline.events import AddPayload

__all__ = ["MAX_PENDING", "RETRIES", "Turn", "WriteBack"]

log = logging.getLogger("memoryd.gateway")

RETRIES = (0.2, 1.0, 5.0)  # back-off before each retry of a synchronous write-back
MAX_PENDING = 10_000


@dataclass(frozen=True)
class Turn:
    """One exchange to remember."""

    user_id: str
    session_id: str | None
    question: str
    answer: str
    model: str

    def messages(self, max_chars: int) -> list[dict[str, str]]:
        return [
            {"role": "user", "content": self.question[:max_chars]},
            {"role": "assistant", "content": self.answer[:max_chars]},
        ]


class WriteBack:
    """Schedules write-backs as tasks and counts what became of them."""

    def __init__(self, limits: LimitsConfig, *, concurrency: int = 4) -> None:
        self.limits = limits
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self.counts = {"scheduled": 0, "queued": 0, "stored": 0, "failed": 0, "waited": 0}
        self._room = asyncio.Event()
        self._room.set()

    async def room(self) -> None:
        """Wait while :data:`MAX_PENDING` write-backs are pending (back-pressure, never a drop)."""
        if len(self._tasks) < MAX_PENDING:
            return
        self.counts["waited"] += 1
        if self.counts["waited"] == 1 or self.counts["waited"] % 1000 == 0:
            log.warning(
                "gateway: %d write-backs pending; new chat calls wait for room (%d so far): turn on "
                "the async pipeline to absorb this load",
                len(self._tasks), self.counts["waited"],
            )  # fmt: skip
        while len(self._tasks) >= MAX_PENDING:
            self._room.clear()
            await self._room.wait()

    def schedule(self, memory: Any, pipeline: Any, turn: Turn, *, retry: bool = True) -> None:
        """Start writing ``turn`` back; returns at once. ``retry``: try again after a storage failure."""
        task = asyncio.get_running_loop().create_task(self._write(memory, pipeline, turn, retry))
        self.counts["scheduled"] += 1
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if len(self._tasks) < MAX_PENDING:
            self._room.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for the write-backs in flight (at most ``timeout_s``, then they are cancelled)."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in late:
            task.cancel()
        if late:
            log.warning("gateway: %d write-back(s) still running at shutdown were cancelled", len(late))
            await asyncio.gather(*late, return_exceptions=True)

    async def _write(self, memory: Any, pipeline: Any, turn: Turn, retry: bool) -> None:
        messages = turn.messages(self.limits.max_message_chars)
        metadata = {"source": "gateway", "model": turn.model}
        async with self._slots:
            for attempt, pause in enumerate((*(RETRIES if retry else ()), None)):
                try:
                    if pipeline is not None:
                        payload = AddPayload(
                            messages, user_id=turn.user_id, run_id=turn.session_id, metadata=metadata
                        )
                        submission = await pipeline.submit_add(memory, payload, source="gateway")
                        self.counts["queued" if submission.pipeline == "queued" else "stored"] += 1
                    else:
                        await memory.add(
                            messages, user_id=turn.user_id, run_id=turn.session_id, metadata=metadata
                        )
                        self.counts["stored"] += 1
                    return
                except BackendUnavailableError as exc:
                    if pause is None:
                        self._failed(turn, exc, attempt + 1)
                        return
                    await asyncio.sleep(pause)
                except MemorydError as exc:
                    self._failed(turn, exc, attempt + 1)
                    return
                except Exception as exc:  # noqa: BLE001 - a background task logs; nothing else would
                    log.exception("gateway write-back for user %r failed", turn.user_id)
                    self._failed(turn, exc, attempt + 1)
                    return

    def _failed(self, turn: Turn, exc: Exception, attempts: int) -> None:
        self.counts["failed"] += 1
        reason = exc.message if isinstance(exc, MemorydError) else type(exc).__name__
        log.warning(
            "gateway write-back for user %r dropped after %d attempt(s): %s", turn.user_id, attempts, reason
        )
