"""Segments deleted by id (SegmentStore.delete_segments): with the turns in them, or only when
they hold none; the memories themselves stay. Every backend of the conformance suite keeps the
hierarchy in SQLite, so the bodies run on that store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from memoryd.hierarchy.models import EVICTED, Segment, owner_key
from memoryd.models import Scope
from memoryd.storage import ChangeSet, SegmentStore, Storage
from memoryd.storage.base import StoredTurn
from tests.storage.conftest import BACKENDS
from tests.storage.helpers import DIM, MODEL, record, stored, unit

ANA = Scope("ana")
KEY = owner_key(ANA)


@pytest.fixture
async def tiers(tmp_path: Path) -> AsyncIterator[tuple[Storage, SegmentStore]]:
    storage = BACKENDS["sqlite"](tmp_path)
    await storage.open(MODEL, DIM)
    try:
        assert storage.segments is not None
        yield storage, storage.segments
    finally:
        await storage.close()


def segment(sid: str, turns: int, tier: str = "mid") -> Segment:
    return Segment(sid, KEY, "ana", None, "tea", (("tea", turns),), np.ones(DIM, dtype=np.float32),
                   turns=turns, created_at=1.0, touched_at=1.0, tier=tier, level=0)  # fmt: skip


def turn(memory_id: str, sid: str | None) -> StoredTurn:
    vector = None if sid is not None else np.ones(DIM, dtype=np.float32)
    return StoredTurn(memory_id, KEY, "ana", None, None, 1.0, 0, segment_id=sid, vector=vector, words=("tea",))


async def test_segments_deleted_by_id_take_their_turns_and_nothing_else(
    tiers: tuple[Storage, SegmentStore],
) -> None:
    storage, store = tiers
    memories = [record(f"tea {n}", user_id="ana") for n in range(4)]
    await storage.commit(ChangeSet(upserts=[stored(m, unit(n + 1)) for n, m in enumerate(memories)]))
    a, b, c, d = (m.id for m in memories)
    await store.restore(
        [turn(a, "s1"), turn(b, "s1"), turn(c, "s2"), turn(d, None)],
        [segment("s1", 2), segment("s2", 1, EVICTED), segment("s3", 0)],
    )
    assert await store.delete_segments(["s1", "s3", "s1", "no-such-segment"]) == 2
    assert {s.id for s in await store.segments(ANA, evicted=True)} == {"s2"}
    assert await store.held(memory_ids=[a, b, c, d], segment_ids=["s1", "s2", "s3"]) == {c, d, "s2"}
    assert [t.memory_id for t in await store.turns(owner=ANA)] == [c, d]
    assert (await storage.records.get_many([a, b])).keys() == {a, b}  # the memories stay
    assert await store.check() == []
    assert await store.delete_segments(["s2"]) == 1  # an evicted one too
    assert await store.held(segment_ids=["s2"], memory_ids=[c]) == set()
    assert await store.delete_segments([]) == 0


async def test_only_empty_segments_are_deleted_when_asked(tiers: tuple[Storage, SegmentStore]) -> None:
    storage, store = tiers
    m = record("tea", user_id="ana")
    await storage.commit(ChangeSet(upserts=[stored(m, unit(1))]))
    await store.restore([turn(m.id, "full")], [segment("full", 1), segment("empty", 0)])
    assert await store.delete_segments(["full", "empty"], empty_only=True) == 1
    assert {s.id for s in await store.segments(ANA)} == {"full"}
    assert [t.memory_id for t in await store.turns(segment_id="full")] == [m.id]


async def test_deleting_segments_joins_an_open_transaction(tiers: tuple[Storage, SegmentStore]) -> None:
    storage, store = tiers
    await store.restore([], [segment("s1", 0)])
    with pytest.raises(RuntimeError):
        async with storage.records.transaction():
            assert await store.delete_segments(["s1"]) == 0  # staged: runs at commit
            raise RuntimeError("the transaction fails")
    assert await store.held(segment_ids=["s1"]) == {"s1"}
    async with storage.records.transaction():
        await store.delete_segments(["s1"])
    assert await store.held(segment_ids=["s1"]) == set()
