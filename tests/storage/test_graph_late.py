"""Graph store conformance: a relation told late (its assertion dated before the current edge of the
relation began) is never stretched over a time it did not hold.

A relation has at most one current edge, and ended ones for the times it held before. A late
assertion used to move the current edge's start back to its own, over any gap between them.
Now it joins the ended edge whose interval holds its time; else it moves back the start of the
first edge after it, when it reaches that edge; else (it ends before that edge begins) it keeps
an ended edge of its own. Every body runs against each backend in ``BACKENDS`` (the embedded
graph and FalkorDB's among them) through the ``store`` fixture.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from memoryd.graph import GraphDiff
from memoryd.graph.writes import ENDED
from memoryd.models import MemoryRecord, Scope
from memoryd.storage import ChangeSet, Storage, StoredMemory
from tests.storage.helpers import T0, record, stored, unit
from tests.storage.test_graph import draft, remember, triples
from tests.storage.test_graph_reopen import end, reopen

U1 = Scope("u1")
LISBON = ("Ana", "lives_in", "Lisbon")
MADRID = ("Ana", "lives_in", "Madrid")


def _day(days: float) -> datetime:
    return T0 + timedelta(days=days)


async def spans(store: Storage) -> list[tuple[float, float | None, str | None, tuple[str, ...]]]:
    """The Lisbon edges: (start, end) in days after T0 (end None: current), why it ended, memories."""
    found = await store.graph.relations(U1, include_expired=True)
    rows = [
        (
            (r.valid_from - T0) / timedelta(days=1),
            None if r.valid_to is None else (r.valid_to - T0) / timedelta(days=1),
            r.reason,
            r.memory_ids,
        )
        for r in found
        if r.target.name == "Lisbon"
    ]
    return sorted(rows, key=lambda r: r[0])


async def homes(store: Storage, day: float) -> list[str]:
    return sorted(t for _, _, t in triples(await store.graph.neighbours(U1, ["Ana"], as_of=_day(day))))


async def history(store: Storage) -> tuple[MemoryRecord, MemoryRecord]:
    """Lisbon (days 0-10), Madrid (10-40), Lisbon again (from 40), told in order."""
    first, _ = await remember(store, "Ana lives in Lisbon", LISBON)
    await end(store, first, 10)
    madrid, _ = await remember(store, "Ana lives in Madrid", MADRID, days=10)
    await end(store, madrid, 40)
    again, _ = await remember(store, "Ana lives in Lisbon again", LISBON, days=40)
    assert [await homes(store, d) for d in (5, 20, 45)] == [["Lisbon"], ["Madrid"], ["Lisbon"]]
    return first, again


async def told_late(store: Storage, days: float, until: float | None = None) -> tuple[MemoryRecord, GraphDiff]:
    """A memory dated ``days`` asserting Lisbon, committed now; ending at ``until`` (kept as what
    held until then, as fine mode keeps history told late), or current."""
    m = record("Ana lived in Lisbon", days=days)
    changes = ChangeSet(upserts=[stored(m, unit(1))], graph_add=[draft(m, LISBON)])
    if until is not None:
        m = m.with_changes(valid_to=_day(until))
        changes = ChangeSet(
            upserts=[StoredMemory(m, unit(1), ["lisbon"])],
            graph_add=[draft(m, LISBON)],
            graph_close_memories=[m.id],
        )
    return m, await store.commit(changes)


async def test_a_late_assertion_joins_the_ended_interval_that_holds_its_time(store: Storage) -> None:
    first, again = await history(store)
    late, _ = await told_late(store, 5)  # a current memory, but dated when the first stay held
    assert await spans(store) == [(0.0, 10.0, ENDED, (first.id, late.id)), (40.0, None, None, (again.id,))]
    assert [await homes(store, d) for d in (5, 20, 45)] == [["Lisbon"], ["Madrid"], ["Lisbon"]]
    assert await store.graph.check() == []


async def test_a_late_assertion_before_an_ended_interval_moves_that_one_back_not_the_current(
    store: Storage,
) -> None:
    first, again = await history(store)
    late, _ = await told_late(store, -5)
    assert await spans(store) == [(-5.0, 10.0, ENDED, (first.id, late.id)), (40.0, None, None, (again.id,))]
    assert [await homes(store, d) for d in (-1, 20, 45)] == [["Lisbon"], ["Madrid"], ["Lisbon"]]


async def test_a_late_assertion_that_ends_before_the_current_edge_keeps_an_interval_of_its_own(
    store: Storage,
) -> None:
    now, _ = await remember(store, "Ana lives in Lisbon", LISBON, days=40)
    late, diff = await told_late(store, 0, until=10)
    assert diff.added == [{"source": "Ana", "relationship": "lives_in", "target": "Lisbon"}]
    assert await spans(store) == [(0.0, 10.0, ENDED, (late.id,)), (40.0, None, None, (now.id,))]
    assert [await homes(store, d) for d in (5, 20, 45)] == [["Lisbon"], [], ["Lisbon"]]
    assert await store.graph.check() == []
    await store.commit(ChangeSet(deletes=[late.id]))  # and goes with its memory
    assert await spans(store) == [(40.0, None, None, (now.id,))]


async def test_a_late_assertion_that_reaches_the_current_edge_moves_its_start_back(store: Storage) -> None:
    now, _ = await remember(store, "Ana lives in Lisbon", LISBON, days=40)
    touching, _ = await told_late(store, 30, until=40)  # held until the current edge began
    assert await spans(store) == [(30.0, None, None, (now.id, touching.id))]
    still, _ = await told_late(store, 20)  # current: it says so until now
    assert await spans(store) == [(20.0, None, None, (now.id, touching.id, still.id))]
    assert await homes(store, 25) == ["Lisbon"]
    assert await store.graph.check() == []


async def test_a_late_assertion_that_joined_an_ended_interval_ends_with_it(store: Storage) -> None:
    """Its mention ends with the interval it joined: were it open, making another memory of that
    interval current again (here: the first stay's, to the same end) would take the interval for
    current, and fold it into the current edge over the Madrid years."""
    first, again = await history(store)
    late, _ = await told_late(store, 5)
    await reopen(store, first, until=10)
    assert await spans(store) == [(0.0, 10.0, ENDED, (first.id, late.id)), (40.0, None, None, (again.id,))]
    assert [await homes(store, d) for d in (5, 20, 45)] == [["Lisbon"], ["Madrid"], ["Lisbon"]]
    assert await store.graph.check() == []
