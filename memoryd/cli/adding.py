"""``memoryd add``'s batched write: every message checked before the first batch is written, the
batches' results merged into one :class:`~memoryd.models.AddResults`, and a batch that fails after
others were committed reported with what those stored.

Each batch is one ``add`` call, committed in one transaction: it is stored whole or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from memoryd.config import LimitsConfig
from memoryd.errors import MemorydError
from memoryd.ingest.inputs import normalise_messages
from memoryd.memory import AsyncMemory
from memoryd.models import AddResult, AddResults, LLMUsage

__all__ = ["BatchedAdd", "add_in_batches", "check_messages", "merge_results"]


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
    fallback reason kept, graph changes put together."""
    results: list[AddResult] = []
    usage: LLMUsage | None = None
    reasons: list[str] = []
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
        if part.relations is not None:
            relations = relations if relations is not None else {}
            for key, changes in part.relations.items():
                relations.setdefault(key, []).extend(changes)
    if usage is not None and reasons:
        usage.fallback = "; ".join(reasons)
    mode = parts[0][1].mode if parts else "fast"
    return AddResults(results, mode=mode, llm=usage, relations=relations)


async def add_in_batches(
    mem: AsyncMemory,
    items: Sequence[Any],
    size: int,
    *,
    advance: Callable[[int], None] = lambda _: None,
    **options: Any,
) -> BatchedAdd:
    """``mem.add(batch, **options)`` for each ``size`` items in turn. A failing first batch raises
    (nothing was stored); a later one ends the run, its error telling what was already stored."""
    parts: list[tuple[int, AddResults]] = []
    for start in range(0, len(items), size):
        batch = items[start : start + size]
        try:
            done = await mem.add(batch, **options)
        except MemorydError as exc:
            if start == 0:
                raise
            exc.message = (
                f"{exc.message} — messages[{start}] onwards were not stored, but the {start} before "
                f"them were (messages[0]–[{start - 1}]); the same add again stores only the rest "
                "(duplicates are NOOP)"
            )
            exc.args = (exc.message,)
            return BatchedAdd(merge_results(parts), start, exc)
        parts.append((start, done))
        advance(len(batch))
    return BatchedAdd(merge_results(parts), len(items))
