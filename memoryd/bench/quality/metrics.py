"""Retrieval metrics: pure functions over a ranked list of keys and a gold set.

``ranked`` is best first and may hold keys that are not gold; ``gold`` is a
non-empty collection of keys (callers skip questions without gold). Every
function looks at the first ``k`` entries of ``ranked`` only.

Two nDCG variants, both with binary relevance and an ideal ranking that puts
``min(k, |gold|)`` gold keys first:

* :func:`ndcg_at` — the textbook one: a hit at rank ``r`` (from 1) gains
  ``1 / log2(r + 1)``. Used for LongMemEval's community session-level ``ndcg@10``.
* :func:`ndcg_lme_at` — LongMemEval's own (``src/retrieval/eval_utils.py``: ``dcg =
  rel[0] + sum(rel[1:] / log2(arange(2, n + 1)))``): rank 1 gains 1 and rank
  ``r >= 2`` gains ``1 / log2(r)``, so ranks 1 and 2 weigh the same. Used for the
  official ``ndcg_any@k``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Iterable, Sequence
from typing import TypeVar

__all__ = [
    "all_at",
    "any_at",
    "dedupe",
    "first_rank",
    "fraction_at",
    "mean",
    "ndcg_at",
    "ndcg_lme_at",
]

K = TypeVar("K", bound=Hashable)


def dedupe(keys: Iterable[K]) -> list[K]:
    """Keys in order of first appearance (a turn ranking -> a session ranking)."""
    return list(dict.fromkeys(keys))


def _top(ranked: Sequence[K], k: int) -> set[K]:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return set(ranked[:k])


def any_at(ranked: Sequence[K], gold: Collection[K], k: int) -> float:
    """1.0 when at least one gold key is in the top ``k``, else 0.0 (recall_any@k, any@k)."""
    return float(not _top(ranked, k).isdisjoint(gold))


def all_at(ranked: Sequence[K], gold: Collection[K], k: int) -> float:
    """1.0 when every gold key is in the top ``k``, else 0.0 (recall_all@k)."""
    return float(set(gold) <= _top(ranked, k))


def fraction_at(ranked: Sequence[K], gold: Collection[K], k: int) -> float:
    """Share of the gold keys found in the top ``k`` (LoCoMo fraction@k)."""
    wanted = set(gold)
    return len(wanted & _top(ranked, k)) / len(wanted)


def _dcg(gains: Iterable[float], first_rank_discounted: bool) -> float:
    total = 0.0
    for rank, gain in enumerate(gains, start=1):
        # textbook: log2(rank + 1); LongMemEval: log2(rank), except rank 1 which is not discounted
        total += gain / (math.log2(rank + 1) if first_rank_discounted else math.log2(max(rank, 2)))
    return total


def _ndcg(ranked: Sequence[K], gold: Collection[K], k: int, textbook: bool) -> float:
    _top(ranked, k)
    wanted = set(gold)
    gains = [1.0 if key in wanted else 0.0 for key in ranked[:k]]
    ideal = [1.0] * min(k, len(wanted))
    best = _dcg(ideal, textbook)
    return _dcg(gains, textbook) / best if best else 0.0


def ndcg_at(ranked: Sequence[K], gold: Collection[K], k: int) -> float:
    """Textbook binary nDCG@k: gain ``1/log2(rank+1)``."""
    return _ndcg(ranked, gold, k, True)


def ndcg_lme_at(ranked: Sequence[K], gold: Collection[K], k: int) -> float:
    """LongMemEval's binary nDCG@k: rank 1 gains 1, rank ``r >= 2`` gains ``1/log2(r)``."""
    return _ndcg(ranked, gold, k, False)


def first_rank(ranked: Sequence[K], gold: Collection[K]) -> int | None:
    """Rank (from 1) of the first gold key, or None when none was retrieved."""
    wanted = set(gold)
    return next((i for i, key in enumerate(ranked, start=1) if key in wanted), None)


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
