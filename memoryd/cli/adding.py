"""``memoryd add``'s batched write: every message checked before the first batch is written, the
batches' results merged into one :class:`~memoryd.models.AddResults`, and a batch that fails after
others were committed reported with what those stored.

Each batch is one ``add`` call, committed in one transaction: it is stored whole or not at all.
Ctrl-C stops the run after the batch being written (whose commit is awaited, so the report of
what was stored is true); a second one stops that batch at once, which is then reported as
maybe stored. Either way :class:`~memoryd.cli.output.Interrupted` carries what was stored.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import FrameType
from typing import Any

from memoryd.cli.output import FileDataError, Interrupted, UsageError
from memoryd.config import LimitsConfig
from memoryd.errors import MemorydError
from memoryd.ingest.inputs import normalise_messages
from memoryd.memory import AsyncMemory
from memoryd.models import AddResult, AddResults, LLMUsage

__all__ = ["BatchedAdd", "add_in_batches", "check_messages", "merge_results", "stdin_text"]


def stdin_text() -> str:
    """What stdin holds, as one text (``memoryd add -``: ``echo "..." | memoryd add - -u ana``)."""
    if sys.stdin is None:  # stdin closed (<&-)
        raise UsageError("cannot read -: stdin is closed", field="texts")
    try:
        text = sys.stdin.buffer.read().decode("utf-8").removeprefix("\ufeff").strip()
    except UnicodeDecodeError:
        raise FileDataError("stdin (TEXT -) is not UTF-8 text", field="texts") from None
    if not text:
        raise UsageError("nothing to add: stdin (TEXT -) holds no text", field="texts")
    return text


@dataclass
class BatchedAdd:
    """What the batches stored, and the error that stopped the rest (after ``stored`` messages)."""

    results: AddResults
    stored: int
    error: MemorydError | None = None


def check_messages(items: Sequence[Any], limits: LimitsConfig) -> None:
    """Validate every message as ``add`` does, numbered over all of them (``messages[450]``), so a
    bad one anywhere stops the command before anything is written. The per-add count limit is
    the batches' business, not the file's."""
    whole = limits.model_copy(update={"max_messages_per_add": max(len(items), limits.max_messages_per_add)})
    normalise_messages(list(items), whole)


def merge_results(parts: Sequence[tuple[int, AddResults]]) -> AddResults:
    """One result for batches that started at the given offsets: message results numbered across
    batches (extracted facts keep their own numbers), LLM calls and tokens summed, each distinct
    fallback reason and each distinct note of work left undone (``incomplete``) kept, graph
    changes put together."""
    results: list[AddResult] = []
    usage: LLMUsage | None = None
    reasons: list[str] = []
    shortfalls: list[str] = []
    relations: dict[str, list[dict[str, Any]]] | None = None
    for start, part in parts:
        results += [replace(r, index=r.index + start) if r.kind == "episode" else r for r in part]
        if part.llm is not None:
            usage = usage or LLMUsage()
            usage.calls += part.llm.calls
            usage.prompt_tokens += part.llm.prompt_tokens
            usage.completion_tokens += part.llm.completion_tokens
            if part.llm.fallback and part.llm.fallback not in reasons:
                reasons.append(part.llm.fallback)
            if part.llm.incomplete and part.llm.incomplete not in shortfalls:
                shortfalls.append(part.llm.incomplete)
        if part.relations is not None:
            relations = relations if relations is not None else {}
            for key, changes in part.relations.items():
                relations.setdefault(key, []).extend(changes)
    if usage is not None:
        usage.fallback = "; ".join(reasons) or None
        usage.incomplete = "; ".join(shortfalls) or None
    mode = parts[0][1].mode if parts else "fast"
    return AddResults(results, mode=mode, llm=usage, relations=relations)


def _stored_before(start: int) -> str:
    """How a run stopped at ``messages[start]`` (start > 0) says what it had stored."""
    return (
        f"messages[{start}] onwards were not stored, but the {start} before them were "
        f"(messages[0]–[{start - 1}]); the same add again stores only the rest (duplicates are NOOP)"
    )


@dataclass
class _Interrupts:
    """The Ctrl-Cs received while batches are written, and whether a batch is being written."""

    count: int = 0
    writing: tuple[int, int] | None = None  # the batch being written: its first and last index
    stopped: bool = False  # a second Ctrl-C cancelled that batch


@contextmanager
def _catch_interrupts(notice: Callable[[str], None]) -> Iterator[_Interrupts]:
    """While the block runs (in the event loop's thread, the main one): the first Ctrl-C only
    counts (the caller stops after the batch in hand), a second cancels the running task if it
    is writing a batch. Outside the main thread, Ctrl-C keeps its usual handler."""
    seen = _Interrupts()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def first() -> None:
        if seen.writing is not None:
            a, b = seen.writing
            notice(
                f"interrupted: finishing messages[{a}]–[{b}], the batch being written (Ctrl-C again stops it)"
            )

    def again() -> None:
        if seen.writing is not None and task is not None and not seen.stopped:  # else nothing to stop
            seen.stopped = True
            task.cancel()

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        seen.count += 1
        loop.call_soon_threadsafe(first if seen.count == 1 else again)

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread
        yield seen
        return
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def add_in_batches(
    mem: AsyncMemory,
    items: Sequence[Any],
    size: int,
    *,
    advance: Callable[[int], None] = lambda _: None,
    notice: Callable[[str], None] = _to_stderr,
    **options: Any,
) -> BatchedAdd:
    """``mem.add(batch, **options)`` for each ``size`` items in turn. A failing first batch raises
    (nothing was stored); a later one ends the run, its error telling what was already stored.
    Ctrl-C raises :class:`Interrupted` once the batch being written is committed (or has failed);
    a second Ctrl-C cancels that batch, reported as maybe stored. ``notice``: where the first
    Ctrl-C is acknowledged."""
    parts: list[tuple[int, AddResults]] = []
    with _catch_interrupts(notice) as interrupts:
        for start in range(0, len(items), size):
            if interrupts.count:
                raise _interrupted(parts, start, 0, len(items))
            batch = items[start : start + size]
            interrupts.writing = (start, start + len(batch) - 1)
            try:
                done = await mem.add(batch, **options)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not interrupts.stopped or task is None or task.uncancel():
                    raise  # cancelled from elsewhere, not by a second Ctrl-C
                raise _interrupted(parts, start, len(batch), len(items)) from None
            except MemorydError as exc:
                if start == 0:
                    raise
                exc.message = f"{exc.message} — {_stored_before(start)}"
                exc.args = (exc.message,)
                return BatchedAdd(merge_results(parts), start, exc)
            finally:
                interrupts.writing = None
            parts.append((start, done))
            advance(len(batch))
    return BatchedAdd(merge_results(parts), len(items))


def _interrupted(
    parts: Sequence[tuple[int, AddResults]], start: int, doubtful: int, total: int
) -> Interrupted:
    """What a run of ``total`` messages interrupted at ``messages[start]`` stored; the ``doubtful``
    messages from there were being written when a second Ctrl-C stopped them: their commit may
    have happened (it runs on the writer thread, which finishes a commit it has begun)."""
    document: dict[str, Any] = {**merge_results(parts).to_dict(), "stored": start}
    if not doubtful:
        return Interrupted(_stored_before(start) if start else "nothing was stored", document)
    document["maybe_stored"] = doubtful
    end = start + doubtful
    report = f"messages[0]–[{start - 1}] were stored, " if start else ""
    report += (
        f"messages[{start}]–[{end - 1}] were being written when a second Ctrl-C stopped them and may "
        "or may not be stored"
    )
    if end < total:
        report += f", messages[{end}] onwards were not stored"
    return Interrupted(report + "; the same add again stores only the rest (duplicates are NOOP)", document)
