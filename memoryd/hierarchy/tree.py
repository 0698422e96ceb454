"""The memory tree of one owner: topics containing segments containing facts and episodes.

Pure: :func:`build_tree` takes what :meth:`memoryd.hierarchy.tiers.Tiers.tree` read
(segments, where each turn is, the owner's current memories) and returns plain
JSON-ready data:

- ``topics``: clusters of segments whose centroids are at least ``topic_similarity``
  similar (greedy, hottest segment first: a segment joins the most similar topic, or
  starts one; beyond the hottest :data:`MAX_SEEDS`, colder segments only join one, and
  those that join none are listed last under :data:`OTHER`), labelled by their
  segments' top keywords, in the order of their hottest segment;
- each segment: its id, label, keywords, tier (``mid`` or ``evicted``), heat, counts,
  sessions, times, its newest ``episodes`` turns and the long-term memories distilled
  from its turns (``facts``);
- ``short_term``: each session's turns still in short-term, newest first;
- ``long_term``: every distilled memory by kind (``profile``, ``preference``, ``fact``,
  ``summary``), and ``assistant``: what the assistant learned about its own behaviour;
- ``counts``: the size of every tier (``untracked``: episodes stored before the
  hierarchy knew them, or with tiers off).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from memoryd.config import TiersConfig
from memoryd.hierarchy.heat import heats
from memoryd.hierarchy.keywords import label, sum_counts
from memoryd.hierarchy.models import EVICTED, LONG, MID, SHORT, Segment, TurnRow
from memoryd.models import MemoryKind, MemoryRecord, Scope

__all__ = ["ASSISTANT", "MAX_SEEDS", "OTHER", "build_tree"]

ASSISTANT = "assistant"  # the long-term group of assistant knowledge (metadata.about)
MAX_SEEDS = 500  # the hottest segments that may start a topic; colder ones only join one
OTHER = "topic:other"  # the last topic: colder segments that joined none
_FACTS_PER_SEGMENT = 50


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()


def _episode(m: MemoryRecord, tier: str) -> dict[str, Any]:
    when = m.event_time or m.created_at
    at = when.isoformat()
    return {"id": m.id, "text": m.text, "role": m.role, "actor": m.actor, "at": at, "tier": tier}


def _derived(m: MemoryRecord) -> dict[str, Any]:
    return {"id": m.id, "kind": m.kind.value, "text": m.text, "tier": LONG, "sources": list(m.source_ids)}


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _topics(segments: Sequence[Segment], threshold: float) -> tuple[list[list[int]], list[int]]:
    """Greedy clusters of segment positions (``segments`` hottest first): each of the hottest
    :data:`MAX_SEEDS` joins the most similar topic (cosine to the topic's mean direction at least
    ``threshold``) or starts one; the others only join one. Returns (topics, left over)."""
    if not segments:
        return [], []
    units = np.array([s.direction() for s in segments], dtype=np.float32)
    seeds = min(len(segments), MAX_SEEDS)
    groups: list[list[int]] = []
    sums = np.zeros((seeds, units.shape[1]), dtype=np.float32)
    centers = np.zeros_like(sums)
    for i in range(seeds):
        best = -1
        if groups:
            sims = centers[: len(groups)] @ units[i]
            best = int(np.argmax(sims))
            if sims[best] < threshold:
                best = -1
        if best < 0:
            best = len(groups)
            groups.append([])
        groups[best].append(i)
        sums[best] += units[i]
        centers[best] = _unit(sums[best])
    rest: list[int] = []
    if len(segments) > seeds:
        sims = units[seeds:] @ centers[: len(groups)].T
        for k, row in enumerate(sims):
            best = int(np.argmax(row))
            (groups[best] if row[best] >= threshold else rest).append(seeds + k)
    return groups, rest


def build_tree(
    *,
    owner: Scope,
    segments: Sequence[Segment],
    turns: Sequence[TurnRow],
    memories: Sequence[MemoryRecord],
    now: float,
    config: TiersConfig,
    episodes: int,
    enabled: bool = True,
) -> dict[str, Any]:
    """The tree (see the module doc); ``episodes``: turns shown per segment and session."""
    by_id = {m.id: m for m in memories}
    derived = [m for m in memories if m.kind is not MemoryKind.EPISODE]
    from_turn: dict[str, list[MemoryRecord]] = defaultdict(list)
    for m in derived:
        for source in m.source_ids:
            from_turn[source].append(m)
    members: dict[str, list[TurnRow]] = defaultdict(list)
    short: dict[str | None, list[TurnRow]] = defaultdict(list)
    for t in turns:
        if t.memory_id not in by_id:
            continue
        (members[t.segment_id] if t.segment_id is not None else short[t.run_id]).append(t)
    tracked = {t.memory_id for t in turns}

    heat = dict(zip((s.id for s in segments), heats(segments, now, config)))
    ranked = sorted(segments, key=lambda s: (-heat[s.id], s.id))
    nodes = [_segment(s, heat[s.id], members[s.id], by_id, from_turn, episodes) for s in ranked]
    topics = []
    groups, rest = _topics(ranked, config.topic_similarity)
    for group in groups:
        kw = sum_counts(ranked[i].keywords for i in group)
        topics.append(
            {
                "id": f"topic:{ranked[group[0]].id}",
                "label": label(kw) or ranked[group[0]].label,
                "keywords": [w for w, _ in kw[:8]],
                "heat": round(sum(heat[ranked[i].id] for i in group), 4),
                "turns": sum(ranked[i].turns for i in group),
                "segments": [nodes[i] for i in group],
            }
        )
    if rest:  # cold segments beyond the hottest MAX_SEEDS that match no topic
        topics.append(
            {
                "id": OTHER,
                "label": "other segments",
                "keywords": [],
                "heat": round(sum(heat[ranked[i].id] for i in rest), 4),
                "turns": sum(ranked[i].turns for i in rest),
                "segments": [nodes[i] for i in rest],
            }
        )

    sessions = []
    for run_id, rows in sorted(short.items(), key=lambda kv: -max(r.at for r in kv[1])):
        newest = sorted(rows, key=lambda r: r.at, reverse=True)[:episodes]
        shown = [_episode(by_id[r.memory_id], SHORT) for r in newest]
        sessions.append({"run_id": run_id, "turns": len(rows), "episodes": shown})

    long_term: dict[str, list[dict[str, Any]]] = {
        k.value: [] for k in MemoryKind if k is not MemoryKind.EPISODE
    }
    long_term[ASSISTANT] = []
    for m in sorted(derived, key=lambda m: m.updated_at, reverse=True):
        kind = ASSISTANT if m.metadata.get("about") == ASSISTANT else m.kind.value
        long_term[kind].append(_derived(m))

    n_episodes = sum(1 for m in memories if m.kind is MemoryKind.EPISODE)
    mid = [s for s in segments if s.tier == MID]
    counts = {
        "short_term_turns": sum(len(v) for v in short.values()),
        "mid_term_turns": sum(len(members[s.id]) for s in mid),
        "evicted_turns": sum(len(members[s.id]) for s in segments if s.tier == EVICTED),
        "segments": len(mid),
        "evicted_segments": len(segments) - len(mid),
        "promoted_segments": sum(1 for s in segments if s.promoted_at is not None),
        "topics": len(topics),
        "long_term": {k: len(v) for k, v in long_term.items()},
        "episodes": n_episodes,
        "untracked": sum(1 for m in memories if m.kind is MemoryKind.EPISODE and m.id not in tracked),
    }
    return {
        "user_id": owner.user_id,
        "agent_id": owner.agent_id,
        "tiers_enabled": enabled,
        "generated_at": _iso(now),
        "counts": counts,
        "short_term": sessions,
        "topics": topics,
        "long_term": long_term,
    }


def _segment(
    s: Segment,
    heat: float,
    rows: list[TurnRow],
    by_id: dict[str, MemoryRecord],
    from_turn: dict[str, list[MemoryRecord]],
    episodes: int,
) -> dict[str, Any]:
    newest = sorted(rows, key=lambda r: r.at, reverse=True)[:episodes]
    facts: dict[str, MemoryRecord] = {}
    for r in rows:
        for m in from_turn.get(r.memory_id, ()):
            facts.setdefault(m.id, m)
    return {
        "id": s.id,
        "label": s.label,
        "keywords": [w for w, _ in s.keywords[:8]],
        "tier": s.tier,
        "heat": round(float(heat), 4),
        "turns": s.turns,
        "retrievals": s.retrievals,
        "sessions": sorted({r.run_id for r in rows if r.run_id is not None}),
        "created_at": _iso(s.created_at),
        "touched_at": _iso(s.touched_at),
        "promoted_at": _iso(s.promoted_at),
        "promotions": s.promotions,
        "episodes": [_episode(by_id[r.memory_id], s.tier) for r in newest],
        "facts": [_derived(m) for m in list(facts.values())[:_FACTS_PER_SEGMENT]],
    }
