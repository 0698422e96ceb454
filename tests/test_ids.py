"""Record ids: time-ordered UUIDs (version 7), tagged by their random end."""

from __future__ import annotations

import time
import uuid

from memoryd.context.builder import Candidate, build_context
from memoryd.models import MemoryKind, MemoryRecord, id_tag, new_id, utcnow


def test_new_ids_are_version_7_uuids_in_time_order() -> None:
    ids = []
    for _ in range(50):
        ids.append(new_id())
        time.sleep(0.002)  # a new millisecond each time
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert [str(u) for u in parsed] == ids  # the canonical text: lower case, dashes where uuid puts them
    assert ids == sorted(ids)
    millis = (parsed[0].int >> 80) / 1000
    assert abs(millis - time.time()) < 60


def test_ids_made_in_one_millisecond_sort_in_the_order_they_were_made() -> None:
    """Two ids of one millisecond sorted at random (74 random bits after the clock): memories of
    one batch, equal in score, ranked and listed in either order from one run to the next."""
    for _ in range(20):
        ids = [new_id() for _ in range(2_000)]  # many share a millisecond
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
    tags = [id_tag(i) for i in ids]
    assert sum(a[:6] == b[:6] for a, b in zip(tags, tags[1:], strict=False)) < 5  # still random


def test_ids_made_together_differ_and_so_do_their_tags() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert len({id_tag(i) for i in ids}) > 19_900  # 32 random bits: collisions are rare
    assert len({i[:8] for i in ids}) < 5  # the beginning is the clock, shared


def test_context_lines_carry_the_random_tag() -> None:
    now = utcnow()
    memories = [
        MemoryRecord(new_id(), f"fact number {n}", MemoryKind.FACT, "u", None, None, {}, None, None, (), None,
                     now, now, str(n), now)
        for n in range(5)
    ]
    built = build_context([Candidate(m, "Relevant memories", 1.0 - i / 10) for i, m in enumerate(memories)], 500)
    tags = [item.tag for item in built.items]
    assert len(set(tags)) == 5
    for item in built.items:
        assert item.id.endswith(item.tag) and f"[{item.tag}] {item.text}" in built.text
