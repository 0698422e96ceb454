"""Planning one write's tier changes: which turns leave short-term, which segment each joins,
which segments are evicted or promoted. Pure: no I/O, the clock is a parameter.

- **Short-term** keeps, per session, the last ``short_term_turns`` turns, and turns of at
  most ``short_term_sessions`` sessions per owner: a write first moves the overflow of its
  session, and every turn of the least recently active sessions beyond that number, to
  mid-term (oldest first). Nothing is dropped.
- **Mid-term**: a moving turn joins the segment whose centroid is most similar to it
  (cosine, plus ``continuity_bonus`` for the segment its session's previous turn joined)
  when that reaches ``segment_similarity`` and the segment is not full; else it starts a
  new segment. The segment's centroid, keywords, label and time are updated.
- **Eviction**: beyond ``mid_term_segments`` segments per owner, the coldest (lowest
  heat) leave mid-term, sparing those the write just created or fed (a new segment
  gets its chance to grow); their turns stay stored and searchable.
- **Promotion**: a mid-term segment whose heat reaches ``promote_heat`` is promoted. When
  its turns have all been processed as far as this memory can (``capability``: rules, or
  the LLM) it is only marked; else it is returned for long-term processing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from memoryd.config import TiersConfig
from memoryd.hierarchy.heat import heats
from memoryd.hierarchy.keywords import label, merge_counts
from memoryd.hierarchy.models import (
    EVICTED,
    MID,
    NewTurn,
    Segment,
    SessionInfo,
    ShortTurn,
    TierChanges,
    owner_key,
)
from memoryd.models import Scope

__all__ = ["Plan", "overflow", "plan_write"]


@dataclass
class Plan:
    """A write's tier changes, and the hot segments whose turns need long-term processing."""

    changes: TierChanges
    promote: list[Segment] = field(default_factory=list)


def overflow(
    run_id: str | None, incoming: int, sessions: Sequence[SessionInfo], config: TiersConfig
) -> dict[str | None, int]:
    """How many of each session's oldest short-term turns leave short-term when ``incoming``
    turns are written to session ``run_id`` (the count for ``run_id`` may exceed what it holds:
    the rest are the oldest of the incoming ones)."""
    moves: dict[str | None, int] = {}
    have = next((s.turns for s in sessions if s.run_id == run_id), 0)
    extra = have + incoming - config.short_term_turns
    if extra > 0:
        moves[run_id] = extra
    others = sorted((s for s in sessions if s.run_id != run_id), key=lambda s: s.last_seq, reverse=True)
    for stale in others[max(config.short_term_sessions - 1, 0) :]:
        moves[stale.run_id] = stale.turns
    return moves


def _unit(vector: np.ndarray) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


class _Segments:
    """The owner's mid-term segments while a write is planned, with their unit centroids."""

    def __init__(self, segments: Sequence[Segment], dim: int, room: int) -> None:
        self.items: list[Segment] = list(segments)
        n = len(self.items)
        self.units = np.zeros((n + room, dim), dtype=np.float32)
        self.turns = np.zeros(n + room, dtype=np.int64)
        if n:
            self.units[:n] = np.array([s.direction() for s in self.items], dtype=np.float32).reshape(n, -1)
            self.turns[:n] = [s.turns for s in self.items]
        self.row = {s.id: row for row, s in enumerate(self.items)}
        self.changed: set[str] = set()

    def best(self, v: np.ndarray, favoured: str | None, config: TiersConfig) -> int | None:
        n = len(self.items)
        if n == 0:
            return None
        scores = self.units[:n] @ v
        if favoured is not None and favoured in self.row:
            scores[self.row[favoured]] += config.continuity_bonus
        scores[self.turns[:n] >= config.segment_max_turns] = -np.inf
        best = int(np.argmax(scores))
        return best if scores[best] >= config.segment_similarity else None

    def put(self, row: int, segment: Segment) -> None:
        if row == len(self.items):
            self.items.append(segment)
            self.row[segment.id] = row
        else:
            self.items[row] = segment
        self.units[row] = segment.direction()
        self.turns[row] = segment.turns
        self.changed.add(segment.id)


def plan_write(
    *,
    owner: Scope,
    new: Sequence[NewTurn],
    direct: int,
    moving: Sequence[ShortTurn],
    last_segment: Mapping[str | None, str],
    segments: Sequence[Segment],
    config: TiersConfig,
    capability: int,
    now: float,
    new_id: Callable[[], str],
) -> Plan:
    """Plan a write of ``new`` turns (the first ``direct`` of them go straight to mid-term).

    ``moving`` are the short-term turns leaving short-term (any order), ``last_segment`` the
    segment each session's latest mid-term turn is in, ``segments`` the owner's mid-term
    segments (with the retrievals written so far).
    """
    changes = TierChanges(owner=owner)
    walk: list[ShortTurn | NewTurn] = [*sorted(moving, key=lambda t: t.seq), *new[:direct]]
    dims = [np.asarray(t.vector).size for t in walk] + [np.asarray(s.centroid).size for s in segments]
    book = _Segments(segments, max(dims, default=1), len(walk))
    key = owner_key(owner)
    last = dict(last_segment)
    placed: dict[str, str] = {}
    for turn in walk:
        v = _unit(turn.vector)
        found = book.best(v, last.get(turn.run_id), config)
        if found is None:
            kw = merge_counts((), turn.words)
            segment = Segment(
                id=new_id(), owner=key, user_id=owner.user_id, agent_id=owner.agent_id, label=label(kw),
                keywords=kw, centroid=v.copy(), turns=1, created_at=now, touched_at=turn.at,
                last_run_id=turn.run_id, tier=MID, level=turn.level, unit=v.copy(),
            )  # fmt: skip
            row = len(book.items)
        else:
            row = found
            s = book.items[row]
            old = np.asarray(s.centroid, dtype=np.float32)
            centroid = (old + (v - old) / (s.turns + 1)).astype(np.float32)
            kw = merge_counts(s.keywords, turn.words)
            segment = replace(
                s,
                centroid=centroid,
                unit=_unit(centroid),
                turns=s.turns + 1,
                keywords=kw,
                label=label(kw),
                touched_at=max(s.touched_at, turn.at),
                last_run_id=turn.run_id,
                level=min(s.level, turn.level),
            )
        book.put(row, segment)
        last[turn.run_id] = segment.id
        placed[turn.memory_id] = segment.id
    for turn in moving:
        changes.moved[turn.memory_id] = placed[turn.memory_id]
    changes.new_turns = [replace(t, segment_id=placed.get(t.memory_id)) for t in new]
    plan = Plan(changes)
    hot = heats(book.items, now, config)  # eviction and promotion change no heat
    _evict(book, hot, config)
    _promote(book, hot, plan, config, capability, now)
    changes.segments = [s for s in book.items if s.id in book.changed]
    return plan


def _evict(book: _Segments, hot: np.ndarray, config: TiersConfig) -> None:
    """The coldest leave; a segment this write just created or fed goes only if nothing else can."""
    mid = [row for row, s in enumerate(book.items) if s.tier == MID]
    over = len(mid) - config.mid_term_segments
    if over <= 0:
        return
    order = [mid[int(i)] for i in np.argsort(hot[mid], kind="stable")]
    fed = book.changed
    ranked = [r for r in order if book.items[r].id not in fed] + [r for r in order if book.items[r].id in fed]
    for row in ranked[:over]:
        book.put(row, replace(book.items[row], tier=EVICTED))


def _promote(
    book: _Segments, hot: np.ndarray, plan: Plan, config: TiersConfig, capability: int, now: float
) -> None:
    for row in np.flatnonzero(hot >= config.promote_heat):
        s = book.items[int(row)]
        if s.tier != MID or (s.promoted_at is not None and s.level >= capability):
            continue
        if s.level >= capability:  # nothing left to process: promotion is a mark
            book.put(int(row), replace(s, promoted_at=now, promotions=s.promotions + 1))
        else:
            plan.promote.append(s)
