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
  ``summary``), and ``assistant``: what the assistant learned about its own behaviour, most
  recently updated first;
- ``counts``: the size of every tier (``untracked``: episodes stored before the
  hierarchy knew them, or with tiers off).

An answer for an owner of tens of thousands of memories is bounded: the newest ``long_term``
memories of each long-term group, the hottest ``segments`` segments (and the topics holding them);
``counts`` still gives every total and ``omitted`` names each part cut, how much of it is shown and
where to get the rest. :func:`build_tree` given these caps builds only what it shows;
:func:`bound_tree` cuts a tree built whole to the same answer (the reference the tests hold the
bounded build to).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import numpy as np

from memoryd.config import TiersConfig
from memoryd.hierarchy.heat import heats
from memoryd.hierarchy.keywords import label, sum_counts
from memoryd.hierarchy.models import EVICTED, LONG, MID, SHORT, Segment, TurnRow
from memoryd.models import MemoryKind, MemoryRecord, Scope

__all__ = ["ASSISTANT", "LONG_TERM_SHOWN", "MAX_SEEDS", "MAX_SHOWN", "OTHER", "SEGMENTS_SHOWN", "bound_tree",
           "build_tree"]  # fmt: skip

ASSISTANT = "assistant"  # the long-term group of assistant knowledge (metadata.about)
MAX_SEEDS = 500  # the hottest segments that may start a topic; colder ones only join one
OTHER = "topic:other"  # the last topic: colder segments that joined none
_FACTS_PER_SEGMENT = 50
LONG_TERM_SHOWN = 50  # default: the newest memories shown per long-term group
SEGMENTS_SHOWN = 50  # default: the hottest segments shown
MAX_SHOWN = 10_000  # the most of either a tree shows


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
    long_term: int | None = None,
    shown: int | None = None,
) -> dict[str, Any]:
    """The tree (see the module doc); ``episodes``: turns shown per segment and session.

    With ``long_term`` or ``shown`` (the segments shown) it is built bounded: exactly what
    :func:`bound_tree` keeps of the whole tree, with its ``omitted``, but only the memories and
    segments shown are built (topics are still clustered over every segment: their totals and
    ``counts`` stay exact; the cap not given takes its default)."""
    cap = None
    if long_term is not None or shown is not None:
        long_term = LONG_TERM_SHOWN if long_term is None else long_term
        shown = SEGMENTS_SHOWN if shown is None else shown
        cap = _Caps(episodes, long_term, shown)
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
    hottest = _hottest([(round(float(heat[s.id]), 4), s.id) for s in ranked], shown)
    nodes = {
        i: _segment(s, heat[s.id], members[s.id], by_id, from_turn, episodes)
        for i, s in enumerate(ranked)
        if s.id in hottest
    }
    topics, every = [], 0
    groups, rest = _topics(ranked, config.topic_similarity)
    named = [(f"topic:{ranked[g[0]].id}", g) for g in groups] + ([(OTHER, rest)] if rest else [])
    for topic_id, group in named:  # `rest`: cold segments beyond the hottest MAX_SEEDS in no topic
        every += 1
        if not any(i in nodes for i in group):
            continue
        if topic_id == OTHER:
            kw: Sequence[tuple[str, int]] = ()
            name = "other segments"
        else:
            kw = sum_counts(ranked[i].keywords for i in group)
            name = label(kw) or ranked[group[0]].label
        topics.append(
            {
                "id": topic_id,
                "label": name,
                "keywords": [w for w, _ in kw[:8]],
                "heat": round(sum(heat[ranked[i].id] for i in group), 4),
                "turns": sum(ranked[i].turns for i in group),
                "segment_count": len(group),
                "segments": [nodes[i] for i in group if i in nodes],
            }
        )

    sessions = []
    for run_id, rows in sorted(short.items(), key=lambda kv: -max(r.at for r in kv[1])):
        newest = sorted(rows, key=lambda r: r.at, reverse=True)[:episodes]
        eps = [_episode(by_id[r.memory_id], SHORT) for r in newest]
        sessions.append({"run_id": run_id, "turns": len(rows), "episodes": eps})

    grouped: dict[str, list[MemoryRecord]] = {k.value: [] for k in MemoryKind if k is not MemoryKind.EPISODE}
    grouped[ASSISTANT] = []
    for m in sorted(derived, key=lambda m: m.updated_at, reverse=True):
        grouped[ASSISTANT if m.metadata.get("about") == ASSISTANT else m.kind.value].append(m)
    kept = {k: [_derived(m) for m in v[:long_term]] for k, v in grouped.items()}

    sizes = {k: len(v) for k, v in grouped.items()}
    n_episodes = sum(1 for m in memories if m.kind is MemoryKind.EPISODE)
    mid = [s for s in segments if s.tier == MID]
    counts = {
        "short_term_turns": sum(len(v) for v in short.values()),
        "mid_term_turns": sum(len(members[s.id]) for s in mid),
        "evicted_turns": sum(len(members[s.id]) for s in segments if s.tier == EVICTED),
        "segments": len(mid),
        "evicted_segments": len(segments) - len(mid),
        "promoted_segments": sum(1 for s in segments if s.promoted_at is not None),
        "topics": every,
        "long_term": sizes,
        "episodes": n_episodes,
        "untracked": sum(1 for m in memories if m.kind is MemoryKind.EPISODE and m.id not in tracked),
    }
    tree = {
        "user_id": owner.user_id,
        "agent_id": owner.agent_id,
        "tiers_enabled": enabled,
        "generated_at": _iso(now),
        "counts": counts,
        "short_term": sessions,
        "topics": topics,
        "long_term": kept,
    }
    if cap is None:
        return tree
    totals = {"segments": len(segments), "topics": every}
    return {**tree, "omitted": _omissions(tree, sizes, totals, cap)}


def _hottest(ranked: Sequence[tuple[float, str]], shown: int | None) -> set[str]:
    """The ids of the ``shown`` hottest (heat as shown, then id; None: all) of (heat, id) pairs."""
    if shown is None:
        return {i for _, i in ranked}
    return {i for _, i in sorted(ranked, key=lambda p: (-p[0], p[1]))[:shown]}


def _owner_filters(tree: dict[str, Any]) -> dict[str, Any]:
    """What narrows a list of the owner's ids to exactly the owner (as the tree reads it): a
    user's shared memories have no agent, an agent's own no user."""
    if tree["agent_id"] is None:
        return {"agent_id": None}
    return {"user_id": None} if tree["user_id"] is None else {}


def _group_filters(group: str, tree: dict[str, Any]) -> dict[str, Any]:
    """The ``filters`` that list exactly one long-term group of the owner (``GET /v1/memories``,
    ``get_all``)."""
    if group == ASSISTANT:
        return {"kind": {"ne": MemoryKind.EPISODE.value}, "metadata.about": ASSISTANT, **_owner_filters(tree)}
    return {"kind": group, "metadata.about": {"ne": ASSISTANT}, **_owner_filters(tree)}


def _query(params: dict[str, Any]) -> str:
    return urlencode({k: v for k, v in params.items() if v is not None})


def _list_path(tree: dict[str, Any], filters: dict[str, Any]) -> str:
    text = json.dumps(filters, separators=(",", ":"))
    owner = {"user_id": tree["user_id"], "agent_id": tree["agent_id"]}
    return "/v1/memories?" + _query({**owner, "filters": text})


def _tree_path(tree: dict[str, Any], **params: int) -> str:
    user, agent = tree["user_id"], tree["agent_id"]
    if user is None:
        return f"/v1/agents/{quote(agent, safe='')}/tree?" + _query(params)
    return f"/v1/users/{quote(user, safe='')}/tree?" + _query({"agent_id": agent, **params})


def _omission(part: str, shown: int, total: int, get: str, filters: dict[str, Any] | None) -> dict[str, Any]:
    return {"part": part, "shown": shown, "total": total, "filters": filters, "get": get}


@dataclass(frozen=True, slots=True)
class _Caps:
    """What a bounded tree was asked for: turns per segment and session, memories per long-term
    group, segments."""

    episodes: int
    long_term: int
    segments: int


def _omissions(
    tree: dict[str, Any], groups: dict[str, int], totals: dict[str, int], caps: _Caps
) -> list[dict[str, Any]]:
    """``omitted`` of a bounded ``tree``: each long-term group of more than ``caps.long_term``
    memories (``groups``: their totals), then the segments and the topics cut (``totals``: how
    many of each the whole tree holds)."""
    omitted = []
    for group, total in groups.items():
        if total > caps.long_term:
            filters = _group_filters(group, tree)
            path = _list_path(tree, filters)
            omitted.append(_omission(f"long_term.{group}", caps.long_term, total, path, filters))
    every = totals["segments"]
    more = _tree_path(tree, episodes=caps.episodes, long_term=caps.long_term, segments=min(every, MAX_SHOWN))
    if every > caps.segments:
        omitted.append(_omission("segments", caps.segments, every, more, None))
    if len(tree["topics"]) < totals["topics"]:
        omitted.append(_omission("topics", len(tree["topics"]), totals["topics"], more, None))
    return omitted


def bound_tree(tree: dict[str, Any], *, episodes: int, long_term: int, segments: int) -> dict[str, Any]:
    """``tree`` (from :func:`build_tree`, whole) with at most ``long_term`` memories per long-term
    group (the most recently updated: what the owner's knowledge is now) and the ``segments``
    hottest segments (heat as shown, then id), each in its topic (a topic none of them is in is
    left out; ``segment_count`` says how many segments a topic has in all). ``counts`` keeps the
    totals; ``omitted`` lists each part cut: ``shown``, ``total`` and ``get``, the path and query
    of a ``GET`` that gives the rest: a long-term group is paged by ``GET /v1/memories``
    (``limit``, ``offset``; the whole group, newest added first) with ``filters`` (``get_all``
    takes the same), segments and topics by the same tree with ``segments`` raised (at most
    :data:`MAX_SHOWN`). :func:`build_tree` given the caps builds the same answer without
    building what is cut."""
    nodes = [s for topic in tree["topics"] for s in topic["segments"]]
    hottest = _hottest([(s["heat"], s["id"]) for s in nodes], segments)
    topics = []
    for topic in tree["topics"]:
        shown = [s for s in topic["segments"] if s["id"] in hottest]
        if shown:
            topics.append({**topic, "segments": shown})
    kept = {group: items[:long_term] for group, items in tree["long_term"].items()}
    bounded = {**tree, "topics": topics, "long_term": kept}
    groups = {group: len(items) for group, items in tree["long_term"].items()}
    totals = {"segments": len(nodes), "topics": len(tree["topics"])}
    return {**bounded, "omitted": _omissions(bounded, groups, totals, _Caps(episodes, long_term, segments))}


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
