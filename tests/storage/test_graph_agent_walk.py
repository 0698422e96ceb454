"""An agent's two-hop walk joins the user's shared graph and its own by name, and a close finds a
name stored the way an earlier release keyed it; on SQLite and FalkorDB.

An agent of a user reads the user's shared graph and its own, but each owner's entities are
nodes of their own: a walk that reached the shared "Alice" stopped there and missed the
relations the agent told of its own "Alice" (and the other way round). Within one agent view an
entity of the shared graph and one of the agent's graph with a name key in common are one node
for the walk; each relation keeps its owner, and another agent's graph is never reached.

A close looked a name up by its current key alone, so a relation between entities a store written
before keyed otherwise ("i̇stanbul" for "İstanbul", "o‘brien" for "O‘Brien") never closed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from memoryd.graph import Relation, RelationClose
from memoryd.graph.normalise import older_name_keys
from memoryd.models import Scope
from memoryd.storage import ChangeSet, Storage
from memoryd.storage.portable import EntityRow, MentionRow, RelationRow
from tests.storage.helpers import record, stored, unit
from tests.storage.test_graph import remember


def owned(relations: Sequence[Relation]) -> list[tuple[str, str, str, str]]:
    """(source, relation, target, the agent owning it or "shared"), sorted."""
    return sorted(
        (r.source.name, r.relation, r.target.name, r.source.agent_id or "shared") for r in relations
    )


async def _graph(store: Storage) -> None:
    await remember(store, "Bob knows Alice", ("Bob", "knows", "Alice"), user_id="u1")
    await remember(store, "Alice lives in Berlin", ("Alice", "lives_in", "Berlin"), user_id="u1")
    await remember(store, "Alice likes tea", ("ALICE", "likes", "tea"), user_id="u1", agent_id="a1")
    await remember(store, "Carol met Alice", ("Carol", "met", "alice"), user_id="u1", agent_id="a1")
    await remember(store, "Alice works at Acme", ("Alice", "works_at", "Acme"), user_id="u1", agent_id="a2")
    await remember(store, "Alice lives in Rome", ("Alice", "lives_in", "Rome"), user_id="u2", agent_id="a1")


async def test_a_two_hop_walk_crosses_between_the_shared_graph_and_the_agents_own(
    graph_store: Storage,
) -> None:
    await _graph(graph_store)
    a1 = Scope("u1", "a1")
    # From the shared Bob: the shared Alice, then what a1 told of its own Alice (a2's stays out).
    from_bob = await graph_store.graph.neighbours(a1, ["Bob"], hops=2)
    assert owned(from_bob) == sorted([
        ("Alice", "lives_in", "Berlin", "shared"),
        ("Bob", "knows", "Alice", "shared"),
        ("Carol", "met", "ALICE", "a1"),
        ("ALICE", "likes", "tea", "a1"),
    ])  # fmt: skip
    assert [r.relation for r in from_bob][:1] == ["knows"]  # the first hop first
    # From a1's tea: a1's Alice, then the shared relations of Alice.
    from_tea = await graph_store.graph.neighbours(a1, ["tea"], hops=2)
    assert owned(from_tea) == sorted([
        ("ALICE", "likes", "tea", "a1"),
        ("Carol", "met", "ALICE", "a1"),
        ("Alice", "lives_in", "Berlin", "shared"),
        ("Bob", "knows", "Alice", "shared"),
    ])  # fmt: skip
    # One hop is as it was.
    assert owned(await graph_store.graph.neighbours(a1, ["Bob"])) == [("Bob", "knows", "Alice", "shared")]
    # Another agent of the user walks into its own Alice, never a1's.
    from_bob_a2 = await graph_store.graph.neighbours(Scope("u1", "a2"), ["Bob"], hops=2)
    assert owned(from_bob_a2) == sorted([
        ("Alice", "lives_in", "Berlin", "shared"),
        ("Alice", "works_at", "Acme", "a2"),
        ("Bob", "knows", "Alice", "shared"),
    ])  # fmt: skip
    # An agent the user never spoke to walks the shared graph alone.
    from_bob_a3 = await graph_store.graph.neighbours(Scope("u1", "a3"), ["Bob"], hops=2)
    assert owned(from_bob_a3) == [
        ("Alice", "lives_in", "Berlin", "shared"),
        ("Bob", "knows", "Alice", "shared"),
    ]


def _old_entity(entity_id: str, name: str, old_key: str) -> EntityRow:
    """An entity as the release before wrote it: its name under the key that release made of it."""
    when = datetime(2026, 11, 30, tzinfo=UTC)
    return EntityRow(entity_id, ("u1", None, None), name, old_key, None, ((old_key, name),), when)


async def _old_relation(store: Storage, rid: str, source: str, relation: str, target: str) -> None:
    """A relation (and the memory asserting it) a store written before holds."""
    memory = record(f"{source} {relation} {target}")
    await store.commit(ChangeSet(upserts=[stored(memory, unit(1))]))
    when = memory.valid_from
    row = RelationRow(rid, "u1", None, source, relation, target, memory.id, None, when, None, None, when,
                      (MentionRow(memory.id, None, None),))  # fmt: skip
    await store.graph.restore([], [row])


async def test_a_close_finds_names_a_store_written_before_keyed_otherwise(graph_store: Storage) -> None:
    city = _old_entity("old-city", "İstanbul", "i\u0307stanbul")
    person = _old_entity("old-person", "O‘Brien", "o‘brien")
    shop = _old_entity("old-shop", "McDonald´s", *older_name_keys("McDonald´s"))
    await graph_store.graph.restore([city, person, shop], [])
    await _old_relation(graph_store, "r-lives", "old-person", "lives_in", "old-city")
    await _old_relation(graph_store, "r-works", "old-person", "works_at", "old-shop")
    assert len(await graph_store.graph.relations(Scope("u1"))) == 2
    at = datetime.now(UTC) + timedelta(days=1)
    closes = [
        RelationClose(
            scope=Scope("u1"), source="O‘Brien", relation="lives in", target="İstanbul", valid_to=at
        ),
        RelationClose(scope=Scope("u1"), source="o‘brien", relation="works at", valid_to=at, reason="quit"),
    ]
    diff = await graph_store.commit(ChangeSet(graph_close=closes))
    assert sorted(c["relationship"] for c in diff.closed) == ["lives_in", "works_at"]
    assert await graph_store.graph.relations(Scope("u1")) == []
    ended = await graph_store.graph.relations(Scope("u1"), include_expired=True)
    assert sorted((r.id, r.valid_to, r.reason) for r in ended) == [
        ("r-lives", at, None),
        ("r-works", at, "quit"),
    ]
