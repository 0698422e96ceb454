"""A tree built bounded (only the memories and segments it shows) is exactly the whole tree cut to the
same caps: for a generated owner of a few thousand memories, hundreds of segments (more than
MAX_SEEDS, so some fall in the last topic), ties in heat and in update times; and through Tiers on
a real store."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from memoryd.config import TiersConfig
from memoryd.hierarchy.models import EVICTED, MID, Segment, TurnRow
from memoryd.hierarchy.tree import MAX_SEEDS, OTHER, bound_tree, build_tree
from memoryd.models import MemoryKind, MemoryRecord, Scope, content_hash
from tests.hierarchy.conftest import TOPICS, chat

T0 = datetime(2025, 1, 1, tzinfo=UTC)
KINDS = (MemoryKind.PREFERENCE, MemoryKind.FACT, MemoryKind.PROFILE, MemoryKind.SUMMARY)


def _record(mid: str, text: str, kind: MemoryKind, at: datetime, owner: Scope, **extra: Any) -> MemoryRecord:
    fields = {"metadata": {}, "source_ids": (), "event_time": None, **extra}
    return MemoryRecord(  # type: ignore[arg-type]
        id=mid, text=text, kind=kind, user_id=owner.user_id, agent_id=owner.agent_id, role="user", actor=None,
        created_at=at, updated_at=at, hash=content_hash(text), valid_from=at, **fields,
    )  # fmt: skip


def _owner(owner: Scope, *, turns: int, derived: int, segments: int, seed: int) -> dict[str, Any]:
    """Segments around 12 directions (with noise), turns spread over them and 40 sessions (one in
    ten still short-term), derived memories of every kind citing turns, updated within 500 s (ties)."""
    rnd, rng = random.Random(seed), np.random.default_rng(seed)
    axes = rng.normal(size=(12, 16)).astype(np.float32)
    segs = [
        Segment(
            f"s{k:05d}",
            "o",
            owner.user_id,
            owner.agent_id,
            f"l{k}",
            ((f"w{k % 12}", 3), (f"x{k}", 1)),
            axes[k % 12] + 0.6 * rng.normal(size=16).astype(np.float32),
            turns=rnd.randint(1, 12),
            retrievals=rnd.randint(0, 5),
            created_at=float(k),
            touched_at=float(rnd.randint(0, 10**6)),
            tier=EVICTED if k % 5 == 0 else MID,
            promoted_at=None if k % 3 else float(k),
        )  # fmt: skip
        for k in range(segments)
    ]
    rows, memories = [], []
    for i in range(turns):
        at, run = T0 + timedelta(seconds=i), f"r{i % 40}"
        seg = None if i % 10 == 0 else segs[rnd.randrange(segments)].id
        rows.append(TurnRow(f"e{i:06d}", run, seg, float(i), 1))
        memories.append(
            _record(f"e{i:06d}", f"turn {i}", MemoryKind.EPISODE, at, owner, run_id=run, event_time=at)
        )
    rows.append(TurnRow("gone", "r1", segs[1].id, 5.0, 1))  # its memory was deleted: never shown
    for j in range(derived):
        kind, at = KINDS[j % 4], T0 + timedelta(seconds=rnd.randint(0, 500))
        about = {"about": "assistant"} if j % 7 == 0 and kind is MemoryKind.PREFERENCE else {}
        cited = tuple(f"e{rnd.randrange(turns):06d}" for _ in range(rnd.randint(0, 3)))
        memories.append(
            _record(f"d{j:06d}", f"fact {j}", kind, at, owner, run_id=None, source_ids=cited, metadata=about)
        )
    return {"owner": owner, "segments": segs, "turns": rows, "memories": memories, "now": 2e6}


CAPS = [(50, 50), (0, 0), (1, 1), (10, 650), (10_000, 10_000), (3, MAX_SEEDS - 1), (3, MAX_SEEDS + 1)]


@pytest.mark.parametrize("owner", [Scope("ana"), Scope("ana", "bot7"), Scope(None, "bot7")])
@pytest.mark.parametrize("similarity", [0.3, 0.6, 0.95])
def test_a_bounded_build_shows_exactly_what_cutting_the_whole_tree_shows(
    owner: Scope, similarity: float
) -> None:
    data = _owner(owner, turns=3000, derived=1500, segments=650, seed=7)
    kw = {**data, "config": TiersConfig(topic_similarity=similarity), "episodes": 5}
    whole = build_tree(**kw)
    assert "omitted" not in whole and len([s for t in whole["topics"] for s in t["segments"]]) == 650
    if similarity >= 0.6:  # colder segments beyond MAX_SEEDS that joined no topic are in the last one
        assert whole["topics"][-1]["id"] == OTHER
    for long_term, shown in CAPS:
        cut = bound_tree(whole, episodes=5, long_term=long_term, segments=shown)
        bounded = build_tree(**kw, long_term=long_term, shown=shown)
        assert bounded == cut, (long_term, shown)
        assert bounded["counts"] == whole["counts"]
        assert len([s for t in bounded["topics"] for s in t["segments"]]) == min(shown, 650)
    # a cap not given takes its default (50 of each), as tree() does
    assert build_tree(**kw, long_term=7) == bound_tree(whole, episodes=5, long_term=7, segments=50)


async def test_tiers_build_the_tree_the_memory_shows(make_memory: Callable[..., Any]) -> None:
    async with make_memory(short_term_turns=1, topic_similarity=0.3) as mem:
        await mem.add([f"I like the colour number {i}." for i in range(30)], user_id="ana", run_id="s0")
        await chat(mem, TOPICS["cat"], run_id="s1")
        await chat(mem, TOPICS["work"], run_id="s2")
        for long_term, segments in ((10, 1), (50, 50), (0, 0)):
            shown = await mem.tree("ana", long_term=long_term, segments=segments)
            built = await mem.tiers.tree(Scope("ana"), episodes=20, long_term=long_term, segments=segments)
            assert built == shown
        assert {"long_term.preference", "segments", "topics"} <= {o["part"] for o in built["omitted"]}
