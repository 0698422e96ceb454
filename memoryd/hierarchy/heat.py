"""A segment's heat: how much it has been retrieved, how much it holds, how recently it was touched.

    heat = w_retrieval * retrievals + w_interaction * turns + w_recency * 0.5 ** (age / half_life)

``age`` is the time since the segment last gained a turn or was retrieved; the
recency part halves every ``heat_half_life_hours``. Pure functions of a
:class:`~memoryd.config.TiersConfig` and a clock reading, so tests move time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from memoryd.config import TiersConfig
from memoryd.hierarchy.models import Segment

__all__ = ["heat", "heats", "recency"]


def recency(age_s: float, config: TiersConfig) -> float:
    """1.0 for a segment touched now, halving every half-life (a future touch counts as now)."""
    return float(0.5 ** (max(age_s, 0.0) / (config.heat_half_life_hours * 3600.0)))


def heat(segment: Segment, now: float, config: TiersConfig) -> float:
    """The heat of one segment at ``now`` (epoch seconds)."""
    return (
        config.heat_retrieval_weight * segment.retrievals
        + config.heat_interaction_weight * segment.turns
        + config.heat_recency_weight * recency(now - segment.touched_at, config)
    )


def heats(segments: Sequence[Segment], now: float, config: TiersConfig) -> np.ndarray:
    """The heat of each segment at ``now``, in order (vectorised :func:`heat`)."""
    if not segments:
        return np.zeros(0)
    retrievals = np.fromiter((s.retrievals for s in segments), float, len(segments))
    turns = np.fromiter((s.turns for s in segments), float, len(segments))
    ages = np.maximum(now - np.fromiter((s.touched_at for s in segments), float, len(segments)), 0.0)
    fresh = 0.5 ** (ages / (config.heat_half_life_hours * 3600.0))
    return (
        config.heat_retrieval_weight * retrievals
        + config.heat_interaction_weight * turns
        + config.heat_recency_weight * fresh
    )
