"""Where a benchmark's CPU time goes, thread by thread: the model, or memoryd's own work.

Batched ingest is measured against the embedder alone; this tells how much CPU
each side spent, so the ratio can be read against its ceiling: with every core
busy, ``add`` can be no faster than the model's CPU plus memoryd's, shared by
the cores.

Threads are told apart by name. memoryd's own threads (``memoryd-embed*``, the
SQLite writer, checkpoint and reader threads) are counted over a whole phase,
because a checkpoint may run after the call that caused it; threads that both
sides use (the main thread: the event loop, or the first share of a batch; the
embedder's ``memoryd-use`` helpers) are counted per call. Threads the Python
runtime does not know (a BLAS library's own workers) are invisible here: with
``embedder.threads`` splitting batches between Python threads, BLAS runs one
thread each and has none.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["ROLES", "ThreadCpu", "shared_cpu_ms", "thread_seconds"]

# role -> thread-name prefixes; first match wins. "event loop" is the main thread.
ROLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("model", ("memoryd-embed", "memoryd-use")),
    ("sqlite writer", ("memoryd-sqlite-writer",)),
    ("checkpoint", ("memoryd-sqlite-checkpoint",)),
    ("sqlite readers", ("memoryd-sqlite-read",)),
    ("event loop", ("MainThread",)),
)
_SHARED = ("MainThread", "memoryd-use")


def _role(name: str) -> str | None:
    return next((role for role, prefixes in ROLES if name.startswith(prefixes)), None)


def thread_seconds(shared: bool) -> dict[tuple[str, int], float] | None:
    """CPU seconds so far of each live thread with a role, by (role, the OS's thread id): the threads both
    sides use (``shared``) or memoryd's own. None where threads' CPU clocks cannot be read."""
    out: dict[tuple[str, int], float] = {}
    for t in threading.enumerate():
        role = _role(t.name)
        if role is None or t.ident is None or t.name.startswith(_SHARED) != shared:
            continue
        try:
            out[(role, t.native_id or t.ident)] = time.clock_gettime(time.pthread_getcpuclockid(t.ident))
        except (AttributeError, OSError):  # not a POSIX system, or the thread just ended
            return None
    return out


def _spent(before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]) -> dict[str, float]:
    """CPU seconds by role between two readings: each thread's own difference (one started since
    counts from zero; one that ended since is left out, so a store closed meanwhile, its writer
    thread gone, takes nothing away from the threads that stayed). A thread's clock never goes
    back: one that did is another thread under a reused id, counted from zero."""
    out: dict[str, float] = {}
    for key, seconds in after.items():
        earlier = before.get(key, 0.0)
        out[key[0]] = out.get(key[0], 0.0) + (seconds - earlier if seconds >= earlier else seconds)
    return out


async def _run(call: Callable[[], Any]) -> Any:
    out = call()
    return await out if isinstance(out, Awaitable) else out


class ThreadCpu:
    """CPU seconds spent by one side (memoryd) over a phase, by role (see the module doc)."""

    def __init__(self) -> None:
        self.start = thread_seconds(shared=False)
        self.shared: dict[str, float] = {}
        self.calls = 0
        self.works = self.start is not None

    async def count(self, call: Callable[[], Any]) -> Any:
        """Run ``call`` (sync or async) and add the shared threads' CPU it took."""
        before = thread_seconds(shared=True) if self.works else None
        out = await _run(call)
        after = thread_seconds(shared=True) if before is not None else None
        if before is None or after is None:
            self.works = False
        else:
            for k, v in _spent(before, after).items():
                self.shared[k] = self.shared.get(k, 0.0) + v
            self.calls += 1
        return out

    def per_call_ms(self) -> dict[str, float] | None:
        """Milliseconds per counted call, by role and in total; None if unreadable."""
        end = thread_seconds(shared=False) if self.works else None
        if end is None or self.start is None or not self.calls:
            return None
        total = dict(self.shared)
        for k, v in _spent(self.start, end).items():
            total[k] = total.get(k, 0.0) + v
        by_role = {role: round(total[role] * 1000 / self.calls, 2) for role, _ in ROLES if total.get(role)}
        by_role["total"] = round(sum(total.values()) * 1000 / self.calls, 2)
        return by_role


async def shared_cpu_ms(call: Callable[[], Any], into: list[float]) -> Any:
    """Run ``call`` and append the milliseconds of CPU the shared threads spent on it (the
    embedder alone uses only those)."""
    before = thread_seconds(shared=True)
    out = await _run(call)
    after = thread_seconds(shared=True)
    if before is not None and after is not None:
        into.append(sum(_spent(before, after).values()) * 1000)
    return out
