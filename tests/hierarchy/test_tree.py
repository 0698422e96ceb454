"""The memory tree, built from stored rows: topics, segments, facts, episodes, long-term groups."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pytest

from memoryd.config import TiersConfig
from memoryd.hierarchy import tree as tree_module
from memoryd.hierarchy.models import EVICTED, MID, Segment, TurnRow
from memoryd.hierarchy.tree import OTHER, build_tree
from memoryd.models import MemoryKind, MemoryRecord, Scope, content_hash

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _memory(i: str, text: str, kind: MemoryKind = MemoryKind.EPISODE, **extra: object) -> MemoryRecord:
    base = dict(
        id=i, text=text, kind=kind, user_id="ana", agent_id=None, run_id="s1" if kind is MemoryKind.EPISODE else None,
        metadata={}, role="user", actor=None, source_ids=(), event_time=T0, created_at=T0, updated_at=T0,
        hash=content_hash(text), valid_from=T0,
    )  # fmt: skip
    base.update(extra)
    return MemoryRecord(**base)  # type: ignore[arg-type]


def _segment(sid: str, axis: int, *, tier: str = MID, turns: int = 1, retrievals: int = 0) -> Segment:
    v = np.zeros(4, dtype=np.float32)
    v[axis] = 1.0
    return Segment(sid, "o", "ana", None, f"label {sid}", ((f"w{axis}", turns),), v, turns=turns,
                   retrievals=retrievals, tier=tier)  # fmt: skip


def test_tree_nests_facts_and_episodes_under_segments_and_topics() -> None:
    memories = [
        _memory("e1", "I love hiking."),
        _memory("e2", "Sintra trails."),
        _memory("e3", "My cat Miso."),
        _memory("e4", "Now in short-term.", run_id="s2"),
        _memory("e5", "Never tracked."),
        _memory("f1", "The user loves hiking.", MemoryKind.PREFERENCE, source_ids=("e1",)),
        _memory("f2", "The user's name is Ana.", MemoryKind.PROFILE),
        _memory(
            "f3",
            "The assistant should not use emojis.",
            MemoryKind.PREFERENCE,
            metadata={"about": "assistant"},
        ),
    ]
    segments = [
        _segment("hike", 0, turns=2, retrievals=3),
        _segment("trail", 0),
        _segment("cat", 1, tier=EVICTED),
    ]
    turns = [
        TurnRow("e1", "s1", "hike", 1.0, 1), TurnRow("e2", "s1", "hike", 2.0, 1),
        TurnRow("e3", "s1", "cat", 3.0, 1), TurnRow("e4", "s2", None, 4.0, 1),
        TurnRow("gone", "s1", "trail", 5.0, 1),  # a turn whose memory was deleted meanwhile: not shown
    ]  # fmt: skip
    doc = build_tree(
        owner=Scope("ana"), segments=segments, turns=turns, memories=memories, now=10.0,
        config=TiersConfig(topic_similarity=0.9), episodes=1,
    )  # fmt: skip
    [hiking, cats] = doc["topics"]
    assert [s["id"] for s in hiking["segments"]] == ["hike", "trail"] and hiking["id"] == "topic:hike"
    hike = hiking["segments"][0]
    assert hike["turns"] == 2 and len(hike["episodes"]) == 1 and hike["episodes"][0]["id"] == "e2"
    assert [f["id"] for f in hike["facts"]] == ["f1"] and hike["facts"][0]["tier"] == "long"
    assert hike["heat"] > hiking["segments"][1]["heat"] and hiking["turns"] == 3
    assert (
        cats["segments"][0]["tier"] == "evicted" and cats["segments"][0]["episodes"][0]["tier"] == "evicted"
    )
    assert doc["short_term"] == [
        {
            "run_id": "s2",
            "turns": 1,
            "episodes": [{**doc["short_term"][0]["episodes"][0], "id": "e4", "tier": "short"}],
        }
    ]
    lt = doc["long_term"]
    assert [m["id"] for m in lt["preference"]] == ["f1"] and [m["id"] for m in lt["assistant"]] == ["f3"]
    assert [m["id"] for m in lt["profile"]] == ["f2"] and lt["fact"] == [] and lt["summary"] == []
    counts = doc["counts"]
    assert counts["segments"] == 2 and counts["evicted_segments"] == 1 and counts["evicted_turns"] == 1
    assert counts["short_term_turns"] == 1 and counts["mid_term_turns"] == 2
    assert counts["episodes"] == 5 and counts["untracked"] == 1 and counts["topics"] == 2


def test_cold_segments_beyond_the_seeds_join_a_topic_or_go_last(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tree_module, "MAX_SEEDS", 2)
    segments = [_segment("a", 0, turns=5), _segment("b", 1, turns=4), _segment("c", 0), _segment("d", 2)]
    doc = build_tree(
        owner=Scope("ana"), segments=segments, turns=[], memories=[], now=0.0,
        config=TiersConfig(topic_similarity=0.9), episodes=0,
    )  # fmt: skip
    assert [[s["id"] for s in t["segments"]] for t in doc["topics"]] == [["a", "c"], ["b"], ["d"]]
    assert doc["topics"][-1]["id"] == OTHER


def test_segments_without_a_known_direction_still_cluster() -> None:
    s = _segment("a", 0)
    assert dataclasses.replace(s, unit=None).direction().tolist() == [1.0, 0.0, 0.0, 0.0]
