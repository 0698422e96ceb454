"""Score fusion: pure functions, no I/O.

Each retriever returns a ranked list. Reciprocal rank fusion sums
``weight / (k + rank)`` over the lists a memory appears in; the sum is divided
by its largest possible value, so the fused score lies in (0, 1]. An optional
recency term mixes in ``0.5 ** (age / half_life)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Candidate", "fuse", "fuse_scores", "recency_factor"]


@dataclass(slots=True)
class Candidate:
    """One memory id with what each retriever said about it."""

    id: str
    ranks: dict[str, int] = field(default_factory=dict)  # retriever -> 1-based rank
    scores: dict[str, float] = field(default_factory=dict)  # retriever -> raw score
    fused: float = 0.0
    recency: float | None = None


def recency_factor(age_days: float, half_life_days: float) -> float:
    """1.0 for something said now, 0.5 after one half-life, never below 0."""
    return float(0.5 ** (max(age_days, 0.0) / half_life_days))


def fuse(
    results: Mapping[str, Sequence[tuple[str, float]]], weights: Mapping[str, float], *, k: float = 60.0
) -> list[Candidate]:
    """Reciprocal rank fusion of ranked ``(id, score)`` lists, best first."""
    total_weight = sum(w for name, w in weights.items() if name in results) or 1.0
    best = total_weight / (k + 1.0)
    by_id: dict[str, Candidate] = {}
    for name, ranked in results.items():
        weight = weights.get(name, 0.0) / best
        for rank, (mid, score) in enumerate(ranked, start=1):
            cand = by_id.get(mid)
            if cand is None:
                cand = by_id[mid] = Candidate(mid, {name: rank}, {name: score}, weight / (k + rank))
            else:
                cand.ranks[name] = rank
                cand.scores[name] = score
                cand.fused += weight / (k + rank)
    # Stable order: fused score, then the better single rank, then id.
    return sorted(by_id.values(), key=lambda c: (-c.fused, min(c.ranks.values()), c.id))


def fuse_scores(
    results: Mapping[str, Sequence[tuple[str, float]]],
    weights: Mapping[str, float],
    floors: Mapping[str, float] | None = None,
) -> list[Candidate]:
    """Weighted sum of each retriever's scores, min-max normalised over its own list.

    A retriever's best candidate gets 1 and its worst (or ``floors[name]`` when
    given, e.g. a cosine of 0) gets 0; a candidate a retriever did not return
    counts 0 there. The sum is divided by the total weight, so it lies in [0, 1].
    """
    total_weight = sum(w for name, w in weights.items() if name in results) or 1.0
    by_id: dict[str, Candidate] = {}
    for name, ranked in results.items():
        if not ranked:
            continue
        weight = weights.get(name, 0.0) / total_weight
        top = max(score for _, score in ranked)
        low = (floors or {}).get(name, min(score for _, score in ranked))
        span = top - low
        for rank, (mid, score) in enumerate(ranked, start=1):
            cand = by_id.get(mid)
            if cand is None:
                cand = by_id[mid] = Candidate(mid)
            cand.ranks[name] = rank
            cand.scores[name] = score
            # All equal (a single candidate, say): each is the best this retriever has.
            norm = (score - low) / span if span > 0 else 1.0
            cand.fused += weight * max(0.0, norm)
    return sorted(by_id.values(), key=lambda c: (-c.fused, min(c.ranks.values()), c.id))
