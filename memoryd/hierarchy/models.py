"""The memory hierarchy's records: turns in tiers, mid-term segments, and one write's tier changes.

Plain dataclasses free of I/O, shared by the planner (:mod:`memoryd.hierarchy.planner`),
the manager (:mod:`memoryd.hierarchy.tiers`) and the segment stores. Times are epoch
seconds. A turn is an episode memory; its *owner* is the user/agent it belongs to
(:func:`memoryd.ingest.derived.owner_scope`), its *session* its ``run_id``.

Tiers: a turn is ``short`` (the recent turns of its session) until it moves into a
segment; a segment is ``mid`` (mid-term) until it is evicted (``evicted``: kept as an
index of its turns, which stay ordinary searchable episodes). Long-term memories are
the distilled ones (profile, preferences, facts, assistant knowledge).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from memoryd.models import Scope

__all__ = [
    "EVICTED",
    "LEVEL_LLM",
    "LEVEL_NONE",
    "LEVEL_RULES",
    "LONG",
    "MID",
    "SHORT",
    "NewTurn",
    "Segment",
    "SessionInfo",
    "ShortTerm",
    "ShortTurn",
    "TierChanges",
    "TierCounts",
    "TurnRow",
    "owner_key",
]

SHORT = "short"
MID = "mid"
EVICTED = "evicted"
LONG = "long"

# How far a turn has been processed into long-term memory: nothing, fast-mode rules, the LLM.
LEVEL_NONE = 0
LEVEL_RULES = 1
LEVEL_LLM = 2


def owner_key(owner: Scope) -> str:
    """The text key of an owner scope (user, agent, and run only when there is neither)."""
    return json.dumps([owner.user_id, owner.agent_id, owner.run_id], ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class NewTurn:
    """An episode entering the hierarchy: short-term, or straight into ``segment_id``."""

    memory_id: str
    run_id: str | None
    at: float  # when it was said (event time, else when it was added)
    level: int
    vector: np.ndarray = field(repr=False)
    words: tuple[str, ...] = ()
    segment_id: str | None = None


@dataclass(frozen=True, slots=True)
class ShortTurn:
    """A short-term turn read back to move it into a segment."""

    memory_id: str
    run_id: str | None
    seq: int
    at: float
    level: int
    vector: np.ndarray = field(repr=False)
    words: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One session of an owner with turns in short-term: how many, and its latest (``last_seq``)."""

    run_id: str | None
    turns: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class ShortTerm:
    """What a write reads of an owner's short-term: its sessions, the turns chosen to move
    (``counts``: how many of each session's oldest), and each such session's last segment."""

    sessions: list[SessionInfo]
    counts: dict[str | None, int]
    turns: list[ShortTurn]
    last_segment: dict[str | None, str]


@dataclass(frozen=True, slots=True)
class TurnRow:
    """Where one turn is: its segment (``None``: short-term), session, time and level."""

    memory_id: str
    run_id: str | None
    segment_id: str | None
    at: float
    level: int


@dataclass(frozen=True, slots=True)
class Segment:
    """A mid-term page: turns on one topic, its centroid, keywords and what its heat is made of.

    ``centroid`` is the mean of its turns' vectors (not normalised); ``keywords`` are
    (word, count) pairs, most frequent first (a bounded pool: see
    :func:`memoryd.hierarchy.keywords.merge_counts`); ``level`` is the lowest processing level of
    its turns (below the memory's own: turns still to hand to long-term processing).
    """

    id: str
    owner: str
    user_id: str | None
    agent_id: str | None
    label: str
    keywords: tuple[tuple[str, int], ...]
    centroid: np.ndarray = field(repr=False)
    turns: int = 0
    retrievals: int = 0
    created_at: float = 0.0
    touched_at: float = 0.0
    last_run_id: str | None = None
    tier: str = MID
    promoted_at: float | None = None
    promotions: int = 0
    level: int = LEVEL_NONE
    unit: np.ndarray | None = field(default=None, repr=False, compare=False)  # centroid / |centroid|

    def direction(self) -> np.ndarray:
        """The unit vector of the centroid (precomputed when known)."""
        if self.unit is not None:
            return self.unit
        c = np.asarray(self.centroid, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(c))
        return c / norm if norm > 0 else c


@dataclass(slots=True)
class TierChanges:
    """What one write changes in the hierarchy (applied with its :class:`ChangeSet`).

    ``moved`` maps short-term turns to the segment they join (their vector is then
    dropped); ``segments`` are written whole except ``retrievals`` (only ever
    incremented) and ``touched_at`` (never moved back); ``retrieved`` (memory id ->
    (count, time of the latest)) adds retrievals to the segments those turns are in
    when the write commits; ``levels`` raises turns' processing level; ``revised`` (memory id ->
    new keywords) is for turns whose memory's text changed (their segment is recounted);
    ``reindexed`` (memory id -> (old index vector, new index vector)) for turns whose index vector
    changed (an edited turn, the turn after an edited or deleted one: :mod:`memoryd.ingest.relink`)
    or that leave (new vector None: a delete): a short-term turn takes the new vector, and the
    centroid of a segment holding one trades the old vector for the new one (old None: unknown).
    """

    new_turns: list[NewTurn] = field(default_factory=list)
    owner: Scope | None = None  # whose turns ``new_turns`` are
    moved: dict[str, str] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    retrieved: dict[str, tuple[int, float]] = field(default_factory=dict)
    levels: dict[str, int] = field(default_factory=dict)
    revised: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reindexed: dict[str, tuple[np.ndarray | None, np.ndarray | None]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.new_turns or self.moved or self.segments or self.retrieved or self.levels or self.revised
            or self.reindexed
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class TierCounts:
    """Tier sizes of one (user_id, agent_id), for the user listing."""

    user_id: str | None
    agent_id: str | None
    short_term_turns: int = 0
    mid_term_turns: int = 0
    evicted_turns: int = 0
    segments: int = 0
    evicted_segments: int = 0
    promoted_segments: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "short_term_turns": self.short_term_turns,
            "mid_term_turns": self.mid_term_turns,
            "evicted_turns": self.evicted_turns,
            "segments": self.segments,
            "evicted_segments": self.evicted_segments,
            "promoted_segments": self.promoted_segments,
        }
