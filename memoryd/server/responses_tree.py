"""The success bodies of ``GET /v1/users`` and of the tree routes (``GET /v1/users/{user_id}/tree``,
``GET /v1/agents/{agent_id}/tree``), for the schema (see :mod:`memoryd.server.responses`; the tree
is built by :mod:`memoryd.hierarchy.tree`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from memoryd.models import MemoryKind

__all__ = [
    "LongTerm",
    "OwnerItem",
    "TierCountsReply",
    "TreeCounts",
    "TreeDerived",
    "TreeEpisode",
    "TreeOmission",
    "TreeReply",
    "TreeSegment",
    "TreeSession",
    "TreeTopic",
    "UsersReply",
]


class TierCountsReply(BaseModel):
    """The size of each tier of one owner."""

    short_term_turns: int
    mid_term_turns: int
    evicted_turns: int
    segments: int
    evicted_segments: int
    promoted_segments: int


class OwnerItem(BaseModel):
    """One (user_id, agent_id) that owns current memories, whose tree the tree routes show; or,
    last, the memories of no user and no agent (``session_only``), which have no tree."""

    user_id: str | None
    agent_id: str | None
    memories: int
    kinds: dict[str, int] = Field(description="Memories by kind (`episode`, `fact`, ...).")
    last_added_at: datetime
    tiers: TierCountsReply
    session_only: bool = Field(
        description="True for the last row only: memories added with a `run_id` alone (`user_id` and "
        "`agent_id` null), read by session with `GET /v1/memories?run_id=`; no tree route shows them."
    )
    runs: int | None = Field(None, description="Session-only row: how many sessions hold them.")
    run_ids: list[str] | None = Field(
        None, description="Session-only row: at most 100 of those sessions, the latest to add a memory first."
    )
    hint: str | None = Field(None, description="Session-only row: how to read them.")


class UsersReply(BaseModel):
    results: list[OwnerItem] = Field(
        description="Owners, most memories first; then the session-only row (`session_only`), if any."
    )


class TreeEpisode(BaseModel):
    """A turn: ``at`` is when it was said."""

    id: str
    text: str
    role: str | None
    actor: str | None
    at: datetime
    tier: Literal["short", "mid", "evicted"]


class TreeDerived(BaseModel):
    """A long-term memory distilled from turns."""

    id: str
    kind: MemoryKind
    text: str
    tier: Literal["long"]
    sources: list[str]


class TreeSegment(BaseModel):
    """A mid-term segment: similar turns, with heat."""

    id: str
    label: str
    keywords: list[str]
    tier: Literal["mid", "evicted"]
    heat: float
    turns: int
    retrievals: int
    sessions: list[str]
    created_at: datetime
    touched_at: datetime
    promoted_at: datetime | None
    promotions: int
    episodes: list[TreeEpisode] = Field(description="Its newest turns.")
    facts: list[TreeDerived] = Field(description="Long-term memories distilled from its turns.")


class TreeTopic(BaseModel):
    """Segments whose centroids are similar; ``topic:other`` lists cold ones that joined none."""

    id: str
    label: str
    keywords: list[str]
    heat: float
    turns: int
    segment_count: int = Field(description="Its segments, listed or not (`segments` shows the hottest).")
    segments: list[TreeSegment]


class TreeSession(BaseModel):
    """A session's turns still in short-term, newest first."""

    run_id: str | None
    turns: int
    episodes: list[TreeEpisode]


class LongTerm(BaseModel):
    """Distilled memories by kind, most recently updated first (at most ``long_term`` each);
    ``assistant``: what the assistant learned about itself."""

    fact: list[TreeDerived]
    preference: list[TreeDerived]
    profile: list[TreeDerived]
    summary: list[TreeDerived]
    assistant: list[TreeDerived]


class TreeCounts(TierCountsReply):
    topics: int
    long_term: dict[str, int] = Field(description="Long-term memories per group of `long_term`.")
    episodes: int
    untracked: int = Field(description="Episodes the hierarchy does not know (stored before it, tiers off).")


class TreeOmission(BaseModel):
    """A part of the tree cut to its cap: how much is shown, its total, and how to get the rest."""

    part: str = Field(description="`long_term.<group>`, `segments` or `topics`.")
    shown: int
    total: int
    filters: dict[str, Any] | None = Field(
        description="A long-term group's filters for `GET /v1/memories` (and `get_all`); null otherwise."
    )
    get: str = Field(
        description="Path and query of a GET that gives the rest: the whole long-term group, paged by "
        "limit/offset, newest added first; or this tree with `segments` raised (at most 10000)."
    )


class TreeReply(BaseModel):
    """One owner's memory tree."""

    user_id: str | None
    agent_id: str | None
    tiers_enabled: bool
    generated_at: datetime
    counts: TreeCounts
    short_term: list[TreeSession]
    topics: list[TreeTopic] = Field(description="The topics holding the segments shown, hottest first.")
    long_term: LongTerm
    omitted: list[TreeOmission] = Field(description="Each part cut to its cap; empty when nothing was.")
