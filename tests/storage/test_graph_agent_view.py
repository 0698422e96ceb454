"""What an agent of a user reads of the graph: the user's shared graph (no ``agent_id``) and its own.

An agent of a user reads the user's shared memories beside its own, never another agent's, and a
home told to an agent after a shared one is stored shared, its relations too, so that every agent
sees it. The graph reads named the agent exactly: ``neighbours``, ``entities`` and ``relations``
for (user, agent) missed every relation stored shared. A read naming the user and no agent reads
everything of the user. Every body runs against each backend (SQLite and FalkorDB among them).
"""

from __future__ import annotations

from memoryd.models import Scope
from memoryd.storage import Storage
from tests.storage.test_graph import remember, triples

SHARED = ("Alice", "lives_in", "Berlin")
MINE = ("Alice", "likes", "tea")
THEIRS = ("Alice", "works_at", "Acme")


async def _graph(store: Storage) -> None:
    await remember(store, "Alice lives in Berlin", SHARED, user_id="u1", run_id="s1")
    await remember(store, "Alice likes tea", MINE, user_id="u1", agent_id="a1", run_id="s2")
    await remember(store, "Alice works at Acme", THEIRS, user_id="u1", agent_id="a2", run_id="s1")
    # neither is the user's: another user's shared graph, an agent's own graph of no user
    await remember(store, "Alice lives in Rome", ("Alice", "lives_in", "Rome"), user_id="u2")
    await remember(store, "Alice is a client", ("Alice", "is_a", "client"), user_id=None, agent_id="a1")


async def test_an_agent_reads_the_users_shared_relations_and_its_own(store: Storage) -> None:
    await _graph(store)
    a1 = Scope("u1", "a1")
    assert sorted(triples(await store.graph.neighbours(a1, ["Alice"]))) == [MINE, SHARED]
    assert sorted(triples(await store.graph.relations(a1))) == [MINE, SHARED]
    alices = await store.graph.entities(a1, names=["alice"])
    assert sorted((e.name, e.agent_id or "") for e in alices) == [("Alice", ""), ("Alice", "a1")]
    assert sorted(e.name for e in await store.graph.entities(a1)) == ["Alice", "Alice", "Berlin", "tea"]
    # a session narrows both to what was asserted in it
    assert triples(await store.graph.neighbours(Scope("u1", "a1", "s1"), ["Alice"])) == [SHARED]
    assert triples(await store.graph.relations(Scope("u1", "a1", "s2"))) == [MINE]
    a2 = Scope("u1", "a2")
    assert sorted(triples(await store.graph.neighbours(a2, ["Alice"]))) == [SHARED, THEIRS]
    assert sorted(e.name for e in await store.graph.entities(a2)) == ["Acme", "Alice", "Alice", "Berlin"]
    # an agent the user never spoke to reads the shared graph alone
    assert triples(await store.graph.neighbours(Scope("u1", "a3"), ["Alice", "Acme", "tea"])) == [SHARED]


async def test_a_user_with_no_agent_named_reads_every_relation_of_the_user(store: Storage) -> None:
    await _graph(store)
    everything = sorted([SHARED, MINE, THEIRS])
    assert sorted(triples(await store.graph.neighbours(Scope("u1"), ["Alice"]))) == everything
    assert sorted(triples(await store.graph.relations(Scope("u1")))) == everything
    assert len(await store.graph.entities(Scope("u1"), names=["Alice"])) == 3
    in_s1 = await store.graph.neighbours(Scope("u1", run_id="s1"), ["Alice"])
    assert sorted(triples(in_s1)) == [SHARED, THEIRS]
