"""Graph store conformance: a memory current again (``graph_reopen_memories``) reopens what it
asserted that ended with it, and nothing else.

Every body runs against each backend in ``BACKENDS`` (the embedded graph and FalkorDB's among
them) through the ``store`` fixture.
"""

from __future__ import annotations

from datetime import timedelta

from memoryd.graph import RelationClose
from memoryd.graph.writes import ENDED
from memoryd.models import MemoryRecord, Scope
from memoryd.storage import ChangeSet, Storage, StoredMemory
from tests.storage.helpers import T0
from tests.storage.test_graph import Triple, remember

U1 = Scope("u1")
WORKS = ("Alice", "works_at", "Acme")
LIKES = ("Alice", "likes", "tea")


async def end(store: Storage, m: MemoryRecord, days: float) -> MemoryRecord:
    ended = m.with_changes(valid_to=T0 + timedelta(days=days))
    await store.commit(ChangeSet(upserts=[StoredMemory(ended)], graph_close_memories=[m.id]))
    return ended


async def reopen(store: Storage, m: MemoryRecord, until: float | None = None) -> list[dict[str, str]]:
    again = m.with_changes(valid_to=None if until is None else T0 + timedelta(days=until))
    diff = await store.commit(ChangeSet(upserts=[StoredMemory(again)], graph_reopen_memories=[m.id]))
    return diff.added


async def edges(store: Storage) -> list[tuple[Triple, float | None, str | None, tuple[str, ...]]]:
    """Each relation: its triple, when it ended (days after T0; None: current), why, its memories."""
    found = await store.graph.relations(U1, include_expired=True)
    rows = [
        (
            (r.source.name, r.relation, r.target.name),
            None if r.valid_to is None else (r.valid_to - T0) / timedelta(days=1),
            r.reason,
            r.memory_ids,
        )
        for r in found
    ]
    return sorted(rows, key=repr)


async def test_a_memory_current_again_reopens_what_ended_with_it(store: Storage) -> None:
    m, _ = await remember(store, "Alice works at Acme and likes tea", WORKS, LIKES)
    ended = await end(store, m, 5)
    assert [e[1:3] for e in await edges(store)] == [(5.0, ENDED), (5.0, ENDED)]
    added = await reopen(store, ended)
    assert sorted(d["relationship"] for d in added) == ["likes", "works_at"]
    assert await edges(store) == [(LIKES, None, None, (m.id,)), (WORKS, None, None, (m.id,))]
    assert await store.graph.check() == []
    await end(store, ended.with_changes(valid_to=None), 8)  # and ends with it again later
    assert [e[1:3] for e in await edges(store)] == [(8.0, ENDED), (8.0, ENDED)]


async def test_a_relation_closed_for_another_reason_stays_closed(store: Storage) -> None:
    m, _ = await remember(store, "Alice works at Acme and likes tea", WORKS, LIKES)
    at = T0 + timedelta(days=3)
    moved = RelationClose(scope=U1, source="Alice", relation="works_at", valid_to=at, reason="moved")
    await store.commit(ChangeSet(graph_close=[moved]))
    ended = await end(store, m, 5)
    assert [d["relationship"] for d in await reopen(store, ended)] == ["likes"]
    assert await edges(store) == [(LIKES, None, None, (m.id,)), (WORKS, 3.0, "moved", (m.id,))]


async def test_a_relation_another_memory_still_asserts_is_left_as_it_is(store: Storage) -> None:
    m, _ = await remember(store, "Alice likes tea", LIKES)
    other, _ = await remember(store, "Alice loves tea", LIKES, days=1)
    ended = await end(store, m, 5)
    assert await reopen(store, ended) == []  # it never closed: the other memory held it
    assert await edges(store) == [(LIKES, None, None, (m.id, other.id))]


async def test_a_memory_reopened_until_later_moves_the_end_of_its_relations(store: Storage) -> None:
    m, _ = await remember(store, "Alice works at Acme", WORKS)
    ended = await end(store, m, 5)
    assert await reopen(store, ended, until=9) == []  # still ended, later
    assert await edges(store) == [(WORKS, 9.0, ENDED, (m.id,))]
    before = await store.graph.neighbours(U1, ["Alice"], as_of=T0 + timedelta(days=7))
    assert [r.target.name for r in before] == ["Acme"]


async def test_a_relation_current_again_beside_the_same_current_one_is_folded_into_it(store: Storage) -> None:
    """Alice worked at Acme (m, ended), then said so again (m2: a new current edge); m current again
    must not leave two current edges Alice -works_at-> Acme."""
    m, _ = await remember(store, "Alice works at Acme", WORKS)
    ended = await end(store, m, 5)
    again, _ = await remember(store, "Alice is at Acme again", WORKS, days=7)
    assert len(await edges(store)) == 2
    assert await reopen(store, ended) == []  # one edge was current already
    assert await edges(store) == [(WORKS, None, None, (again.id, m.id))]
    since = await store.graph.neighbours(U1, ["Alice"], as_of=T0 + timedelta(days=1))
    assert [r.target.name for r in since] == ["Acme"]  # from m's start, as one edge
    assert await store.graph.check() == []
