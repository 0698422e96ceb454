"""Timing calls of several systems fairly, on a machine that other work may share.

:func:`timed` runs each system's call on each item and returns the seconds
taken, per system. Systems take turns in blocks of items, in rotating order, so
that load from elsewhere on the machine falls on all of them alike; when the
turn passes, an untimed *switch* call warms the next system up, so that one
system's leftovers (cold caches, garbage-collector debt, busy BLAS threads) are
not billed to the other.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from memoryd.bench.results import Progress

__all__ = ["BLOCK", "Call", "bind", "timed"]

BLOCK = 20  # items per turn when systems are timed alternately
Call = Callable[[Any, int], Any]  # call(item, index); may return an awaitable


def bind(call: Call, item: Any) -> Call:
    """``call`` bound to a fixed item (for untimed warm-up calls)."""
    return lambda _, i: call(item, i)


async def _run(call: Call, item: Any, i: int) -> None:
    out = call(item, i)
    if inspect.isawaitable(out):
        await out


async def timed(
    progress: Progress,
    label: str,
    items: Sequence[Any],
    calls: Mapping[str, Call],
    switch: Mapping[str, Call] | None = None,
    block: int = BLOCK,
) -> dict[str, list[float]]:
    """Seconds taken by each of ``calls`` on each item, systems taking turns every ``block`` items."""
    names = list(calls)
    block = block if len(names) > 1 else max(1, len(items))
    times: dict[str, list[float]] = {name: [] for name in names}
    weight = [len(x) if isinstance(x, list) else 1 for x in items]
    # The systems share one process: what each holds (stores, mem0's client, the bench's pools) is
    # frozen out of the cycle collector's full passes for the run, so neither pays, in its calls, for
    # scanning the other's objects (mem0 beside memoryd doubled the CPU of memoryd's batched adds).
    gc.collect()
    gc.freeze()
    with contextlib.ExitStack() as stack:
        stack.callback(gc.unfreeze)
        advance = stack.enter_context(progress.task(label, sum(weight)))
        for turn, first in enumerate(range(0, len(items), block)):
            indices = range(first, min(first + block, len(items)))
            for k in range(len(names)):
                name = names[(turn + k) % len(names)]
                if switch is not None and len(names) > 1:
                    await _run(switch[name], items[first], -1)
                for i in indices:
                    start = time.perf_counter()
                    await _run(calls[name], items[i], i)
                    times[name].append(time.perf_counter() - start)
            advance(sum(weight[i] for i in indices))
    return times
