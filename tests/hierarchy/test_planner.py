"""The pure parts of the hierarchy: overflow, segment assignment, heat, eviction, promotion."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from memoryd.config import TiersConfig
from memoryd.hierarchy.heat import heat, heats, recency
from memoryd.hierarchy.keywords import label, merge_counts, words
from memoryd.hierarchy.models import (
    EVICTED,
    LEVEL_LLM,
    LEVEL_NONE,
    LEVEL_RULES,
    MID,
    NewTurn,
    Segment,
    SessionInfo,
)
from memoryd.hierarchy.planner import overflow, plan_write
from memoryd.models import Scope

HOUR = 3600.0
OWNER = Scope("ana")


def axis(i: int, dim: int = 8, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """A unit vector near axis ``i`` (topics are orthogonal axes)."""
    v = np.zeros(dim, dtype=np.float32)
    v[i] = 1.0
    v += noise * np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def turn(i: int, topic: int, *, run: str | None = "s1", level: int = LEVEL_RULES, at: float = 0.0) -> NewTurn:
    return NewTurn(f"m{i}", run, at, level, axis(topic, noise=0.1, seed=i), (f"word{topic}",))


def plan(new: list[NewTurn], *, segments: list[Segment] = (), config: TiersConfig | None = None, **kw):  # type: ignore[no-untyped-def,assignment]
    ids = itertools.count()
    args = dict(
        owner=OWNER, new=new, direct=len(new), moving=[], last_segment={}, segments=list(segments),
        config=config or TiersConfig(), capability=LEVEL_RULES, now=10 * HOUR,
        new_id=lambda: f"seg{next(ids)}",
    )  # fmt: skip
    args.update(kw)
    return plan_write(**args)


def test_overflow_moves_the_oldest_turns_of_the_session_and_of_stale_sessions() -> None:
    cfg = TiersConfig(short_term_turns=4, short_term_sessions=2)
    sessions = [SessionInfo("s1", 4, 10), SessionInfo("s2", 3, 20), SessionInfo("s3", 2, 30)]
    # s1 is full: one new turn pushes its oldest out; s2 (older than s3) goes whole.
    assert overflow("s1", 1, sessions, cfg) == {"s1": 1, "s2": 3}
    # a write bigger than the capacity: the count exceeds what s1 holds (the rest are new turns)
    assert overflow("s1", 6, sessions[:1], cfg) == {"s1": 6}
    # a new session: the least recently active ones leave short-term
    assert overflow("s4", 1, sessions, cfg) == {"s1": 4, "s2": 3}
    assert overflow("s3", 2, sessions[2:], cfg) == {}


def test_turns_on_one_topic_share_a_segment_and_others_start_their_own() -> None:
    new = [turn(0, 0), turn(1, 0), turn(2, 1), turn(3, 0), turn(4, 2)]
    out = plan(new, config=TiersConfig(segment_similarity=0.8, continuity_bonus=0.0))
    placed = {t.memory_id: t.segment_id for t in out.changes.new_turns}
    assert placed["m0"] == placed["m1"] == placed["m3"]
    assert len({placed["m0"], placed["m2"], placed["m4"]}) == 3
    by_id = {s.id: s for s in out.changes.segments}
    first = by_id[str(placed["m0"])]
    assert first.turns == 3 and first.keywords == (("word0", 3),) and first.label == "word0"
    assert first.tier == MID and first.level == LEVEL_RULES
    assert np.allclose(
        first.centroid, np.mean([t.vector for t in (new[0], new[1], new[3])], axis=0), atol=1e-5
    )


def test_continuity_keeps_a_session_in_its_segment() -> None:
    cfg = TiersConfig(segment_similarity=0.95, continuity_bonus=0.0)
    near = [NewTurn(f"m{i}", "s1", 0.0, 1, axis(0, noise=0.25, seed=i)) for i in range(4)]
    apart = {t.segment_id for t in plan(near, config=cfg).changes.new_turns}
    together = {
        t.segment_id
        for t in plan(near, config=cfg.model_copy(update={"continuity_bonus": 0.5})).changes.new_turns
    }
    assert len(apart) > 1 and len(together) == 1


def test_only_the_first_direct_turns_leave_short_term_and_stay_in_order() -> None:
    new = [turn(i, 0) for i in range(5)]
    out = plan(new, direct=2)
    assert [t.segment_id is not None for t in out.changes.new_turns] == [True, True, False, False, False]


def test_a_full_segment_takes_no_more_turns() -> None:
    out = plan([turn(i, 0) for i in range(5)], config=TiersConfig(segment_max_turns=2))
    sizes = sorted(s.turns for s in out.changes.segments)
    assert sizes == [1, 2, 2]


def test_heat_adds_retrievals_turns_and_a_recency_that_halves_per_half_life() -> None:
    cfg = TiersConfig(
        heat_retrieval_weight=2.0,
        heat_interaction_weight=0.5,
        heat_recency_weight=4.0,
        heat_half_life_hours=10,
    )
    s = Segment("s", "o", "ana", None, "", (), axis(0), turns=6, retrievals=3, touched_at=0.0)
    assert heat(s, 0.0, cfg) == pytest.approx(2 * 3 + 0.5 * 6 + 4.0)
    assert heat(s, 10 * HOUR, cfg) == pytest.approx(9 + 2.0)
    assert heat(s, 30 * HOUR, cfg) == pytest.approx(9 + 0.5)
    assert recency(-5.0, cfg) == 1.0  # a touch in the future counts as now
    assert list(heats([s, s], 20 * HOUR, cfg)) == pytest.approx([10.0, 10.0])


def test_the_coldest_segments_are_evicted_beyond_capacity() -> None:
    cfg = TiersConfig(mid_term_segments=2, heat_half_life_hours=1)
    old = [
        Segment(f"old{i}", "o", "ana", None, "", (), axis(i + 3), turns=1, touched_at=0.0) for i in range(2)
    ]
    hot = Segment("hot", "o", "ana", None, "", (), axis(6), turns=1, retrievals=5, touched_at=0.0)
    out = plan([turn(0, 0, at=10 * HOUR)], segments=[*old, hot], config=cfg)
    tiers = {s.id: s.tier for s in out.changes.segments}
    assert tiers == {"old0": EVICTED, "old1": EVICTED, "seg0": MID}  # the new segment is fresh, "hot" is hot
    assert "hot" not in tiers  # unchanged: not rewritten


def test_hot_segments_are_marked_or_handed_to_processing() -> None:
    cfg = TiersConfig(promote_heat=3.0, heat_interaction_weight=1.0, heat_recency_weight=0.0)
    done = plan([turn(i, 0, level=LEVEL_RULES) for i in range(3)], config=cfg)
    [segment] = done.changes.segments
    assert segment.promoted_at == 10 * HOUR and segment.promotions == 1 and done.promote == []
    raw = plan([turn(i, 0, level=LEVEL_NONE) for i in range(3)], config=cfg)
    [pending] = raw.promote
    assert pending.promoted_at is None and pending.level == LEVEL_NONE
    # a promoted segment whose turns are all processed is not promoted again
    again = plan([turn(9, 0, level=LEVEL_RULES)], segments=[segment], config=cfg, direct=1)
    assert again.promote == [] and again.changes.segments[0].promotions == 1
    # with an LLM, turns processed by rules only still need it
    llm = plan([turn(i, 0) for i in range(3)], config=cfg, capability=LEVEL_LLM)
    assert len(llm.promote) == 1


def test_retrievals_make_a_segment_hot_without_rewriting_it() -> None:
    cfg = TiersConfig(promote_heat=5.0, heat_retrieval_weight=1.0, heat_interaction_weight=0.0)
    s = Segment(
        "s", "o", "ana", None, "", (), axis(0), turns=1, retrievals=5, touched_at=0.0, level=LEVEL_NONE
    )
    out = plan([], segments=[s], config=cfg)
    assert [p.id for p in out.promote] == ["s"] and out.changes.segments == []
    assert plan([], segments=[replace(s, retrievals=4)], config=cfg).promote == []


def test_keywords_and_labels() -> None:
    assert words("I love hiking in the mountains, really!") == ("hiking", "mountains")
    assert words("我喜欢在山里徒步，我们去年夏天去了") == ("山里", "徒步", "去年", "夏天")
    counts = merge_counts(merge_counts((), ["hiking", "trail"]), ["trail", "sintra"])
    assert counts == (("trail", 2), ("hiking", 1), ("sintra", 1))
    assert label(counts) == "trail, hiking, sintra" and label(()) == ""


def test_a_segment_the_write_just_fed_is_evicted_last() -> None:
    cfg = TiersConfig(mid_term_segments=1)
    hot = Segment("hot", "o", "ana", None, "", (), axis(6), turns=9, retrievals=9, touched_at=10 * HOUR)
    out = plan([turn(0, 0, at=10 * HOUR)], segments=[hot], config=cfg)
    assert {s.id: s.tier for s in out.changes.segments} == {"hot": EVICTED, "seg0": MID}
    two_new = plan([turn(0, 0), turn(1, 1)], config=cfg)  # more new segments than room: the colder goes
    assert sorted(s.tier for s in two_new.changes.segments) == [EVICTED, MID]


def test_turns_left_in_short_term_come_back_as_they_were_and_the_others_placed() -> None:
    new = [turn(0, 0), turn(1, 0), turn(2, 1)]
    out = plan(new, direct=1)
    short, placed = out.changes.new_turns[1:], out.changes.new_turns[0]
    assert all(a is b for a, b in zip(short, new[1:], strict=True))  # not copied
    assert [t.segment_id for t in short] == [None, None]
    assert placed.segment_id == "seg0" and placed == replace(new[0], segment_id="seg0")
