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

__all__ = ["Plan", "overflow", "plan_write", "promotions"]


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


def _unit(v: np.ndarray) -> np.ndarray:
    """``v`` scaled to length 1 (a zero vector stays zero)."""
    norm = float(np.sqrt(v.dot(v)))  # what np.linalg.norm computes for a vector, without its checks
    return v / norm if norm > 0 else v


def _units(vectors: Sequence[np.ndarray], dim: int) -> np.ndarray:
    """The rows of ``vectors`` as unit vectors (zero rows stay zero), one matrix."""
    out = np.zeros((len(vectors), dim), dtype=np.float32)
    for i, v in enumerate(vectors):
        out[i] = np.asarray(v, dtype=np.float32).reshape(-1)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return out / norms


class _Growing:
    """What a walk did to one segment so far: the fields the next turn's placement needs, and
    the words its turns brought (merged into the keywords once, when the segment is built)."""

    __slots__ = ("base", "centroid", "turns", "touched_at", "last_run_id", "level", "words")

    def __init__(self, base: Segment) -> None:
        self.base = base
        self.centroid = np.asarray(base.centroid, dtype=np.float32).reshape(-1).copy()
        self.turns = base.turns
        self.touched_at = base.touched_at
        self.last_run_id = base.last_run_id
        self.level = base.level
        self.words: list[str] = []

    def join(self, v: np.ndarray, turn: ShortTurn | NewTurn) -> np.ndarray:
        """Add a turn (unit vector ``v``); returns the new centroid's unit vector."""
        self.centroid += (v - self.centroid) / (self.turns + 1)
        self.turns += 1
        self.touched_at = max(self.touched_at, turn.at)
        self.last_run_id = turn.run_id
        self.level = min(self.level, turn.level)
        self.words.extend(turn.words)
        return _unit(self.centroid)

    def segment(self) -> Segment:
        kw = merge_counts(self.base.keywords, self.words)
        return replace(
            self.base, centroid=self.centroid, unit=_unit(self.centroid),
            turns=self.turns, keywords=kw, label=label(kw), touched_at=self.touched_at,
            last_run_id=self.last_run_id, level=self.level,
        )  # fmt: skip


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
        self.growing: dict[int, _Growing] = {}

    def best(self, v: np.ndarray, favoured: str | None, config: TiersConfig) -> int | None:
        n = len(self.items)
        if n == 0:
            return None
        scores = self.units[:n] @ v
        if favoured is not None and favoured in self.row:
            scores[self.row[favoured]] += config.continuity_bonus
        scores[self.turns[:n] >= config.segment_max_turns] = -np.inf
        best = int(scores.argmax())
        return best if scores[best] >= config.segment_similarity else None

    def grow(self, row: int, v: np.ndarray, turn: ShortTurn | NewTurn) -> str:
        """Put a turn into the existing segment at ``row``; returns the segment's id."""
        growing = self.growing.get(row)
        if growing is None:
            growing = self.growing[row] = _Growing(self.items[row])
        self.units[row] = growing.join(v, turn)
        self.turns[row] = growing.turns
        self.changed.add(self.items[row].id)
        return self.items[row].id

    def open(self, segment: Segment) -> int:
        """Start a new segment (its first turn already in it); returns its row."""
        row = len(self.items)
        self.items.append(segment)
        self.row[segment.id] = row
        self.units[row] = segment.direction()
        self.turns[row] = segment.turns
        self.changed.add(segment.id)
        return row

    def put(self, row: int, segment: Segment) -> None:
        """Replace the (built) segment at ``row``."""
        self.items[row] = segment
        self.units[row] = segment.direction()
        self.turns[row] = segment.turns
        self.changed.add(segment.id)

    def build(self) -> None:
        """Turn what the walk grew into segments."""
        for row, growing in self.growing.items():
            self.items[row] = growing.segment()
        self.growing.clear()


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
    segments (with the retrievals written so far). A segment's keywords take the words of
    all the turns this write puts in it at once.
    """
    changes = TierChanges(owner=owner)
    walk: list[ShortTurn | NewTurn] = [*sorted(moving, key=lambda t: t.seq), *new[:direct]]
    dims = [np.asarray(t.vector).size for t in walk] + [np.asarray(s.centroid).size for s in segments]
    dim = max(dims, default=1)
    book = _Segments(segments, dim, len(walk))
    units = _units([t.vector for t in walk], dim)
    key = owner_key(owner)
    last = dict(last_segment)
    placed: dict[str, str] = {}
    for turn, v in zip(walk, units, strict=True):
        found = book.best(v, last.get(turn.run_id), config)
        if found is None:
            kw = merge_counts((), turn.words)
            sid = new_id()
            book.open(
                Segment(
                    id=sid, owner=key, user_id=owner.user_id, agent_id=owner.agent_id, label=label(kw),
                    keywords=kw, centroid=v.copy(), turns=1, created_at=now, touched_at=turn.at,
                    last_run_id=turn.run_id, tier=MID, level=turn.level, unit=v.copy(),
                )  # fmt: skip
            )
        else:
            sid = book.grow(found, v, turn)
        last[turn.run_id] = sid
        placed[turn.memory_id] = sid
    book.build()
    for turn in moving:
        changes.moved[turn.memory_id] = placed[turn.memory_id]
    # a turn left in short-term is the turn it was: no copy
    changes.new_turns = [
        t if (at := placed.get(t.memory_id)) == t.segment_id else replace(t, segment_id=at) for t in new
    ]
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
        if not _due(s, capability):
            continue
        if s.level >= capability:  # nothing left to process: promotion is a mark
            book.put(int(row), replace(s, promoted_at=now, promotions=s.promotions + 1))
        else:
            plan.promote.append(s)


def _due(s: Segment, capability: int) -> bool:
    """Whether a hot segment is still to promote: in mid-term, and not promoted with every turn
    processed as far as this memory can go (a turn that joined since brings it back)."""
    return s.tier == MID and not (s.promoted_at is not None and s.level >= capability)


def promotions(
    segments: Sequence[Segment], config: TiersConfig, capability: int, now: float
) -> tuple[list[Segment], list[Segment]]:
    """Of an owner's ``segments`` as stored (the retrievals written so far), the hot ones still to
    promote, as a write's plan promotes them: those only to mark (returned marked) and those whose
    turns need long-term processing. For a write that brought retrievals and planned without them
    (a segment made hot by searches alone, even when the write moves no turn)."""
    marked: list[Segment] = []
    process: list[Segment] = []
    for s, h in zip(segments, heats(segments, now, config), strict=True):
        if h < config.promote_heat or not _due(s, capability):
            continue
        if s.level >= capability:
            marked.append(replace(s, promoted_at=now, promotions=s.promotions + 1))
        else:
            process.append(s)
    return marked, process
