"""A memory and the relations it asserts land together or not at all."""

from __future__ import annotations

import pytest

from memoryd.errors import MemorydError
from memoryd.graph import RelationDraft
from memoryd.models import Scope
from memoryd.storage import ChangeSet, Storage, StoredMemory
from tests.storage.helpers import record, stored, unit

U1 = Scope("u1")


def works_at(memory_id: str | None, target: str = "Acme") -> RelationDraft:
    return RelationDraft(source="Alice", relation="works_at", target=target, memory_id=memory_id, scope=U1)  # type: ignore[arg-type]


async def assert_empty(store: Storage, *memory_ids: str) -> None:
    assert await store.records.get_many(list(memory_ids)) == {}
    assert await store.vectors.search(unit(1), scope=U1, limit=5) == []
    assert await store.keywords.search(["alice"], scope=U1, limit=5) == []
    assert await store.graph.relations(U1, include_expired=True) == []
    assert await store.graph.entities(U1) == []


async def test_a_failing_relation_takes_the_memory_with_it(store: Storage) -> None:
    m = record("Alice works at Acme")
    # The graph write is the last of the unit of work; it fails inside the engine (NOT NULL).
    with pytest.raises(MemorydError):
        await store.commit(
            ChangeSet(upserts=[stored(m, unit(1))], graph_add=[works_at(m.id), works_at(None)])
        )
    await assert_empty(store, m.id)


async def test_a_failing_memory_takes_its_relations_with_it(store: Storage) -> None:
    m = record("Alice works at Acme")
    bad = m.with_changes(text=None)  # rejected by the record store's NOT NULL, inside the engine
    with pytest.raises(MemorydError):
        await store.commit(
            ChangeSet(upserts=[StoredMemory(bad, unit(1), ["alice"])], graph_add=[works_at(m.id)])
        )
    await assert_empty(store, m.id)


async def test_the_diff_is_reported_only_once_committed(store: Storage) -> None:
    m = record("Alice works at Acme")
    async with store.records.transaction():
        await store.records.apply(ChangeSet(upserts=[stored(m, unit(1))]))
        diff = await store.graph.apply(ChangeSet(graph_add=[works_at(m.id)]))
        assert not diff  # staged, not yet true
        assert await store.graph.relations(U1) == []
    assert diff.added == [{"source": "Alice", "relationship": "works_at", "target": "Acme"}]
    [rel] = await store.graph.relations(U1)
    assert rel.memory_id == m.id


async def test_after_a_failure_the_next_write_works(store: Storage) -> None:
    m = record("Alice works at Acme")
    with pytest.raises(MemorydError):
        await store.commit(ChangeSet(upserts=[stored(m, unit(1))], graph_add=[works_at(None)]))
    ok = record("Alice works at Globex")
    diff = await store.commit(ChangeSet(upserts=[stored(ok, unit(1))], graph_add=[works_at(ok.id, "Globex")]))
    assert [d["target"] for d in diff.added] == ["Globex"]
    assert [e.name for e in await store.graph.entities(U1)] == ["Alice", "Globex"]
