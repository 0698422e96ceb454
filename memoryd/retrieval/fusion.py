"""Score fusion: pure functions, no I/O.

Each retriever returns a ranked list. Reciprocal rank fusion sums
``weight / (k + rank)`` over the lists a memory appears in; the sum is divided
by its largest possible value, so the fused score lies in (0, 1]. Score fusion
sums each retriever's min-max normalised scores, weighted. An optional recency
term mixes in ``0.5 ** (age / half_life)``.

Both fusions score every candidate with plain floats and build a
:class:`Candidate` only for the ``limit`` best: a search fuses a few hundred
candidates to return ten.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Candidate", "fuse", "fuse_scores", "recency_factor"]

Ranked = Sequence[tuple[str, float]]


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
    results: Mapping[str, Ranked],
    weights: Mapping[str, float],
    *,
    k: float = 60.0,
    limit: int | None = None,
) -> list[Candidate]:
    """Reciprocal rank fusion of ranked ``(id, score)`` lists, best first (the best ``limit``)."""
    total_weight = sum(w for name, w in weights.items() if name in results) or 1.0
    best = total_weight / (k + 1.0)
    return _combine(results, lambda name, ranked: _rrf_part(weights.get(name, 0.0) / best, k, ranked), limit)


def fuse_scores(
    results: Mapping[str, Ranked],
    weights: Mapping[str, float],
    floors: Mapping[str, float] | None = None,
    *,
    limit: int | None = None,
) -> list[Candidate]:
    """Weighted sum of each retriever's scores, min-max normalised over its own list.

    A retriever's best candidate gets 1 and its worst (or ``floors[name]`` when
    given, e.g. a cosine of 0) gets 0; a candidate a retriever did not return
    counts 0 there. The sum is divided by the total weight, so it lies in [0, 1].
    Best first; only the best ``limit`` when given.
    """
    total_weight = sum(w for name, w in weights.items() if name in results) or 1.0

    def part(name: str, ranked: Ranked) -> list[float]:
        weight = weights.get(name, 0.0) / total_weight
        scores = [s for _, s in ranked]
        top = max(scores)
        low = (floors or {}).get(name, min(scores))
        span = top - low
        if span <= 0:  # all equal (a single candidate, say): each is the best this retriever has
            return [weight] * len(scores)
        scale = weight / span
        return [max(0.0, (s - low) * scale) for s in scores]

    return _combine(results, part, limit)


def _rrf_part(weight: float, k: float, ranked: Ranked) -> list[float]:
    return [weight / (k + rank) for rank in range(1, len(ranked) + 1)]


def _combine(
    results: Mapping[str, Ranked], part: Callable[[str, Ranked], list[float]], limit: int | None
) -> list[Candidate]:
    """Sum each list's contributions per id; order by fused score, then the better single rank,
    then id (stable); build candidates for the head only."""
    fused: dict[str, float] = {}
    first: dict[str, int] = {}  # the best rank an id has in any list
    ranks: dict[str, dict[str, int]] = {}
    for name, ranked in results.items():
        if not ranked:
            continue
        here: dict[str, int] = {}
        for rank, ((mid, _), gain) in enumerate(zip(ranked, part(name, ranked), strict=True), start=1):
            here.setdefault(mid, rank)
            fused[mid] = fused.get(mid, 0.0) + gain
            if rank < first.get(mid, rank + 1):
                first[mid] = rank
        ranks[name] = here
    order = sorted(fused, key=lambda mid: (-fused[mid], first[mid], mid))
    if limit is not None:
        order = order[: max(limit, 0)]
    out: list[Candidate] = []
    for mid in order:
        cand = Candidate(mid, fused=fused[mid])
        for name, here in ranks.items():
            at = here.get(mid)
            if at is not None:
                cand.ranks[name] = at
                cand.scores[name] = results[name][at - 1][1]
        out.append(cand)
    return out
