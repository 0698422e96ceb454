"""Score fusion: pure functions, no I/O.

Each retriever returns a ranked list. Reciprocal rank fusion sums
``weight / (k + rank)`` over the lists a memory appears in; the sum is divided
by its largest possible value, so the fused score lies in (0, 1]. Score fusion
sums each retriever's min-max normalised scores, weighted. An optional recency
term mixes in ``0.5 ** (age / half_life)``.

A memory's fused score must not depend on how long the lists are (a search for
more hits asks each retriever for more) nor on a threshold: rank fusion counts
only each list's first ``head`` ranks, score fusion takes fixed ``bounds`` (the
caller's, from a fixed head of each list) and clamps what falls below them, and
``admit`` (a threshold) removes candidates after they are scored, never before.

Both fusions score every candidate with plain floats and build a
:class:`Candidate` only for the ``limit`` best: a search fuses a few hundred
candidates to return ten.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Candidate", "fuse", "fuse_scores", "recency_factor", "score_bounds"]

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
    head: int | None = None,
    admit: Callable[[str], bool] | None = None,
) -> list[Candidate]:
    """Reciprocal rank fusion of ranked ``(id, score)`` lists, best first (the best ``limit``).

    Only each list's first ``head`` ranks count (a later one adds nothing): a longer list
    adds candidates without changing the score of those a shorter one had. Candidates
    ``admit`` refuses are left out after scoring.
    """
    total_weight = sum(w for name, w in weights.items() if name in results) or 1.0
    best = total_weight / (k + 1.0)

    def part(name: str, ranked: Ranked) -> list[float]:
        return _rrf_part(weights.get(name, 0.0) / best, k, ranked, head)

    return _combine(results, part, limit, admit)


def fuse_scores(
    results: Mapping[str, Ranked],
    weights: Mapping[str, float],
    floors: Mapping[str, float] | None = None,
    *,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    limit: int | None = None,
    admit: Callable[[str], bool] | None = None,
) -> list[Candidate]:
    """Weighted sum of each retriever's scores, min-max normalised.

    A retriever's best candidate gets 1 and its worst (or ``floors[name]`` when
    given, e.g. a cosine of 0) gets 0; ``bounds[name] = (low, top)``, when given,
    fixes them instead (whatever the list's length: a score below ``low`` counts 0).
    A candidate a retriever did not return counts 0 there. The sum is divided by the
    total weight, so it lies in [0, 1]. Best first; only the best ``limit`` when given,
    of the candidates ``admit`` accepts (scored first, so it changes no one's score).
    """
    total_weight = sum(w for name, w in weights.items() if name in results) or 1.0

    def part(name: str, ranked: Ranked) -> list[float]:
        weight = weights.get(name, 0.0) / total_weight
        scores = [s for _, s in ranked]
        fixed = (bounds or {}).get(name)
        if fixed is not None:
            low, top = fixed
        else:
            top = max(scores)
            low = (floors or {}).get(name, min(scores))
        span = top - low
        if span <= 0:  # all equal (a single candidate, say): each is the best this retriever has
            return [weight if s >= low else 0.0 for s in scores]
        scale = weight / span
        return [max(0.0, (s - low) * scale) for s in scores]

    return _combine(results, part, limit, admit)


def score_bounds(
    dense: Ranked, keyword: Ranked, cosines: Mapping[str, float], head: int
) -> dict[str, tuple[float, float]]:
    """Score fusion's ``(low, top)`` per retriever, from the first ``head`` of each list only.

    The cosine runs from the lowest to the highest of the dense head's and the keyword
    head's own cosines (``cosines``: a keyword candidate's comes from the vector index);
    BM25 from 0 to its best. Whatever follows the heads changes neither bound.
    """
    bounds: dict[str, tuple[float, float]] = {}
    cos = [s for _, s in dense[:head]] + [cosines[mid] for mid, _ in keyword[:head] if mid in cosines]
    if cos:
        bounds["dense"] = (min(cos), max(cos))
    if keyword:
        bounds["keyword"] = (0.0, max(s for _, s in keyword[:head]))
    return bounds


def _rrf_part(weight: float, k: float, ranked: Ranked, head: int | None) -> list[float]:
    counted = len(ranked) if head is None else min(head, len(ranked))
    return [weight / (k + rank) for rank in range(1, counted + 1)] + [0.0] * (len(ranked) - counted)


def _combine(
    results: Mapping[str, Ranked],
    part: Callable[[str, Ranked], list[float]],
    limit: int | None,
    admit: Callable[[str], bool] | None = None,
) -> list[Candidate]:
    """Sum each list's contributions per id; order by fused score, then the better single rank,
    then id (stable); drop what ``admit`` refuses; build candidates for the head only."""
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
    if admit is not None:
        order = [mid for mid in order if admit(mid)]
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
