"""Graph store conformance: entities merge, neighbours, scopes, validity, deletes.

Every body runs against each backend in ``BACKENDS`` through the ``store``
fixture, with the memories that assert the relations committed alongside.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from memoryd.config import load_settings
from memoryd.errors import ConfigError, InvalidInputError
from memoryd.graph import GraphDiff, Relation, RelationClose, RelationDraft
from memoryd.models import MemoryRecord, Scope
from memoryd.storage import ChangeSet, GraphStore, Storage, StoredMemory, build_storage
from memoryd.storage.portable import EntityRow
from tests.storage.helpers import T0, record, stored, unit

Triple = tuple[str, str, str]


def draft(memory: MemoryRecord, triple: Triple, **extra: object) -> RelationDraft:
    source, relation, target = triple
    return RelationDraft(
        source=source,
        relation=relation,
        target=target,
        memory_id=memory.id,
        scope=memory.scope,
        valid_from=memory.valid_from,
        **extra,  # type: ignore[arg-type]
    )


async def remember(
    store: Storage, text: str, *triples: Triple, days: float = 0, **scope: str | None
) -> tuple[MemoryRecord, GraphDiff]:
    """Commit one memory and the relations it asserts, in one change set."""
    m = record(text, days=days, **scope)  # type: ignore[arg-type]
    diff = await store.commit(
        ChangeSet(upserts=[stored(m, unit(1))], graph_add=[draft(m, t) for t in triples])
    )
    return m, diff


def triples(relations: Sequence[Relation]) -> list[Triple]:
    return [(r.source.name, r.relation, r.target.name) for r in relations]


U1 = Scope("u1")


async def test_name_variants_are_one_entity(store: Storage) -> None:
    _, diff = await remember(store, "Alice works at Acme", ("Alice", "works_at", "Acme Corp"))
    await remember(store, "alice likes pizza", (" alice ", "Likes", "pizza"))
    await remember(
        store, "ALICE lives in Paris", ("ALICE.", "lives in", "The Louvre"), ("Alice", "likes", "Pizza!")
    )
    alice = await store.graph.entities(U1, names=["alice"])
    assert [e.name for e in alice] == ["Alice"]
    assert len(await store.graph.entities(U1)) == 4  # Alice, Acme Corp, pizza, The Louvre
    rels = await store.graph.neighbours(U1, ["ALICE"])
    assert sorted(triples(rels)) == [
        ("Alice", "likes", "pizza"),
        ("Alice", "lives_in", "The Louvre"),  # display form as first seen
        ("Alice", "works_at", "Acme Corp"),
    ]
    assert diff.to_dict() == {
        "added_entities": [{"source": "Alice", "relationship": "works_at", "target": "Acme Corp"}],
        "deleted_entities": [],
    }


async def test_chinese_names_merge(store: Storage) -> None:
    await remember(store, "张伟住在北京", ("张伟", "住在", "北京"))
    await remember(store, "张伟在清华工作", ("「张伟」", "工作于", "清华大学。"))
    [zhang] = await store.graph.entities(U1, names=["张伟。"])
    assert zhang.name == "张伟"
    assert sorted(triples(await store.graph.neighbours(U1, ["张伟"]))) == [
        ("张伟", "住在", "北京"),
        ("张伟", "工作于", "清华大学"),
    ]


async def test_aliases_resolve_and_merge_existing_nodes(store: Storage) -> None:
    await remember(store, "Bob knows Alice", ("Bob", "knows", "Alice"), ("Bob", "works_at", "Acme"))
    await remember(store, "Robert works at Acme", ("Robert", "works_at", "Acme"))
    assert len(await store.graph.entities(U1, names=["Bob", "Robert"])) == 2
    m = record("Bob (Robert) likes tea")
    await store.commit(
        ChangeSet(
            upserts=[stored(m, unit(1))],
            graph_add=[draft(m, ("Bob", "likes", "tea"), aliases={"bob": ["Robert", "Bobby"]})],
        )
    )
    [bob] = await store.graph.entities(U1, names=["Robert"])
    assert bob.name == "Bob" and set(bob.aliases) == {"Robert", "Bobby"}
    assert [e.id for e in await store.graph.entities(U1, names=["bobby"])] == [bob.id]
    rels = await store.graph.neighbours(U1, ["Bobby"])
    assert sorted(triples(rels)) == [
        ("Bob", "knows", "Alice"),
        ("Bob", "likes", "tea"),
        ("Bob", "works_at", "Acme"),
    ]
    works = next(r for r in rels if r.relation == "works_at")
    assert len(works.memory_ids) == 2  # the two edges became one, remembering both sources


async def test_entity_type_first_seen_wins(store: Storage) -> None:
    m = record("Rex is Alice's dog")
    await store.commit(
        ChangeSet(
            upserts=[stored(m, unit(1))],
            graph_add=[
                draft(m, ("Alice", "has_pet", "Rex"), target_type="Pet"),
                draft(m, ("Rex", "is_a", "dog"), source_type="animal"),
            ],
        )
    )
    [rex] = await store.graph.entities(U1, names=["rex"])
    [alice] = await store.graph.entities(U1, names=["alice"])
    assert rex.type == "pet" and alice.type is None


async def test_neighbours_one_and_two_hops(store: Storage) -> None:
    await remember(store, "Alice works at Acme", ("Alice", "works_at", "Acme"))
    await remember(store, "Acme is in Paris", ("Acme", "located_in", "Paris"), days=1)
    await remember(store, "Paris is in France", ("Paris", "part_of", "France"), days=2)
    await remember(store, "Bob lives in Berlin", ("Bob", "lives_in", "Berlin"))
    assert triples(await store.graph.neighbours(U1, ["Alice"])) == [("Alice", "works_at", "Acme")]
    assert triples(await store.graph.neighbours(U1, ["Alice"], hops=2)) == [
        ("Alice", "works_at", "Acme"),
        ("Acme", "located_in", "Paris"),
    ]
    # incoming edges count: Paris's neighbourhood holds both sides, newest first
    assert triples(await store.graph.neighbours(U1, ["Paris"])) == [
        ("Paris", "part_of", "France"),
        ("Acme", "located_in", "Paris"),
    ]
    assert len(await store.graph.neighbours(U1, ["Paris"], hops=2)) == 3
    assert len(await store.graph.neighbours(U1, ["Paris"], hops=2, limit=1)) == 1
    assert await store.graph.neighbours(U1, ["Nobody"]) == []
    with pytest.raises(InvalidInputError) as err:
        await store.graph.neighbours(U1, ["Alice"], hops=3)
    assert err.value.field == "hops"


async def test_scopes_are_isolated(store: Storage) -> None:
    await remember(store, "u1: Alice works at Acme", ("Alice", "works_at", "Acme"), user_id="u1", run_id="s1")
    await remember(store, "u2: Alice works at Globex", ("Alice", "works_at", "Globex"), user_id="u2")
    await remember(
        store, "agent: Alice is a client", ("Alice", "is_a", "client"), user_id=None, agent_id="a1"
    )
    assert triples(await store.graph.neighbours(Scope("u2"), ["Alice"], hops=2)) == [
        ("Alice", "works_at", "Globex")
    ]
    assert triples(await store.graph.relations(Scope(agent_id="a1"), limit=10)) == [
        ("Alice", "is_a", "client")
    ]
    assert {e.name for e in await store.graph.entities(Scope("u2"))} == {"Alice", "Globex"}
    assert await store.graph.entities(Scope("u3")) == []
    # Entities are shared across a user's sessions; run_id narrows relations to that session.
    await remember(store, "u1: Alice likes tea", ("alice", "likes", "tea"), user_id="u1", run_id="s2")
    assert len(await store.graph.entities(Scope("u1"), names=["Alice"])) == 1
    assert triples(await store.graph.neighbours(Scope("u1", run_id="s2"), ["Alice"])) == [
        ("Alice", "likes", "tea")
    ]
    assert {e.name for e in await store.graph.entities(Scope("u1", run_id="s1"))} == {"Alice", "Acme"}
    assert len(await store.graph.neighbours(Scope("u1"), ["Alice"])) == 2


async def test_anonymous_sessions_do_not_share_nodes(store: Storage) -> None:
    await remember(store, "Alice in run a", ("Alice", "likes", "tea"), user_id=None, run_id="a")
    await remember(store, "Alice in run b", ("Alice", "likes", "coffee"), user_id=None, run_id="b")
    [a] = await store.graph.entities(Scope(run_id="a"), names=["Alice"])
    [b] = await store.graph.entities(Scope(run_id="b"), names=["Alice"])
    assert a.id != b.id
    assert triples(await store.graph.neighbours(Scope(run_id="b"), ["Alice"])) == [
        ("Alice", "likes", "coffee")
    ]


async def test_close_ends_validity_and_as_of_tells_what_was_true(store: Storage) -> None:
    await remember(store, "Alice works at Acme", ("Alice", "works_at", "Acme"), run_id="s1")
    m = record("Alice moved to Initech", days=10, run_id="s2")
    diff = await store.commit(
        ChangeSet(
            upserts=[stored(m, unit(1))],
            graph_close=[
                RelationClose(
                    scope=m.scope, source="alice", relation="Works At", valid_to=m.valid_from, reason="moved"
                )
            ],
            graph_add=[draft(m, ("Alice", "works_at", "Initech"))],
        )
    )
    assert diff.to_dict() == {
        "added_entities": [{"source": "Alice", "relationship": "works_at", "target": "Initech"}],
        "deleted_entities": [{"source": "Alice", "relationship": "works_at", "target": "Acme"}],
    }
    at = store.graph.neighbours
    assert triples(await at(U1, ["Alice"])) == [("Alice", "works_at", "Initech")]
    assert triples(await at(U1, ["Alice"], as_of=T0 + timedelta(days=5))) == [("Alice", "works_at", "Acme")]
    assert triples(await at(U1, ["Alice"], as_of=T0 + timedelta(days=15))) == [
        ("Alice", "works_at", "Initech")
    ]
    assert await at(U1, ["Alice"], as_of=T0 - timedelta(days=1)) == []
    both = await at(U1, ["Alice"], include_expired=True)
    assert triples(both) == [("Alice", "works_at", "Initech"), ("Alice", "works_at", "Acme")]
    closed = both[1]
    assert closed.valid_to == T0 + timedelta(days=10) and closed.reason == "moved"
    assert [r.is_current for r in both] == [True, False]
    # The Acme edge still exists (validity ended, nothing deleted); Acme is still a node.
    assert len(await store.graph.relations(U1, include_expired=True)) == 2
    assert len(await store.graph.relations(U1)) == 1


async def test_close_without_target_and_not_before_start(store: Storage) -> None:
    await remember(store, "Alice likes tea", ("Alice", "likes", "tea"), ("Alice", "likes", "jazz"))
    await remember(store, "Alice likes chess", ("Alice", "likes", "chess"), days=20)
    diff = await store.commit(
        ChangeSet(
            graph_close=[
                RelationClose(scope=U1, source="Alice", relation="likes", valid_to=T0 + timedelta(days=10)),
                RelationClose(scope=U1, source="Nobody", relation="likes", valid_to=T0 + timedelta(days=10)),
            ]
        )
    )
    assert sorted(d["target"] for d in diff.closed) == ["jazz", "tea"]
    assert triples(await store.graph.neighbours(U1, ["Alice"])) == [("Alice", "likes", "chess")]


async def test_adding_a_relation_twice_is_idempotent(store: Storage) -> None:
    m, first = await remember(store, "Alice works at Acme", ("Alice", "works_at", "Acme"))
    replay = await store.commit(ChangeSet(graph_add=[draft(m, ("alice", "works-at", "ACME"))]))
    assert first.added and not replay.added
    other, again = await remember(store, "Alice is at Acme", ("Alice", "works_at", "Acme"), days=1)
    assert not again.added
    [rel] = await store.graph.relations(U1, include_expired=True)
    assert rel.memory_ids == (m.id, other.id) and rel.memory_id == m.id
    assert len(await store.graph.entities(U1)) == 2


async def test_ending_a_memory_closes_what_only_it_asserted(store: Storage) -> None:
    old, _ = await remember(
        store, "Alice works at Acme", ("Alice", "works_at", "Acme"), ("Alice", "likes", "tea")
    )
    await remember(store, "Alice loves tea", ("Alice", "likes", "tea"), days=1)
    new = record("Alice works at Initech", days=10)
    ended = old.with_changes(valid_to=new.valid_from)
    diff = await store.commit(
        ChangeSet(
            upserts=[StoredMemory(ended), stored(new, unit(1))],
            graph_add=[draft(new, ("Alice", "works_at", "Initech"))],
            graph_close_memories=[old.id],
        )
    )
    assert diff.closed == [{"source": "Alice", "relationship": "works_at", "target": "Acme"}]
    assert sorted(triples(await store.graph.neighbours(U1, ["Alice"]))) == [
        ("Alice", "likes", "tea"),  # still asserted by a current memory
        ("Alice", "works_at", "Initech"),
    ]
    before = await store.graph.neighbours(U1, ["Alice"], as_of=T0 + timedelta(days=5))
    assert sorted(triples(before)) == [("Alice", "likes", "tea"), ("Alice", "works_at", "Acme")]


async def test_hard_delete_forgets_relations_and_orphan_entities(store: Storage) -> None:
    m1, _ = await remember(
        store, "Alice works at Acme, likes pizza", ("Alice", "works_at", "Acme"), ("Alice", "likes", "pizza")
    )
    m2, _ = await remember(store, "Alice likes pizza", ("Alice", "likes", "pizza"), days=1)
    await remember(store, "u2's Alice", ("Alice", "works_at", "Acme"), user_id="u2")
    await store.commit(ChangeSet(deletes=[m1.id]))
    [rel] = await store.graph.relations(U1, include_expired=True)
    assert (rel.relation, rel.memory_id, rel.memory_ids) == ("likes", m2.id, (m2.id,))
    assert {e.name for e in await store.graph.entities(U1)} == {"Alice", "pizza"}
    await store.commit(ChangeSet(deletes=[m2.id]))
    assert await store.graph.relations(U1, include_expired=True) == []
    assert await store.graph.entities(U1) == []
    assert len(await store.graph.relations(Scope("u2"))) == 1  # another user's graph is untouched


async def test_relations_page_newest_first(store: Storage) -> None:
    for i in range(5):
        await remember(store, f"fact {i}", ("Alice", "knows", f"Person {i}"), days=i)
    page = await store.graph.relations(U1, limit=2, offset=1)
    assert [r.target.name for r in page] == ["Person 3", "Person 2"]
    assert await store.graph.relations(U1, limit=0) == []


async def test_drafts_with_nothing_to_store_are_skipped(store: Storage) -> None:
    m, diff = await remember(
        store, "noise", ("...", "likes", "tea"), ("Alice", "!!", "tea"), ("Alice", "likes", "tea")
    )
    assert len(diff.skipped) == 2 and len(diff.added) == 1
    assert len(await store.graph.relations(U1)) == 1
    assert (await store.records.get_many([m.id])).keys() == {m.id}


def test_graph_backend_is_chosen_by_name(tmp_path: Path) -> None:
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "g.db"), "graph": "nope"}})
    with pytest.raises(ConfigError, match="allowed: falkordb, sqlite") as err:
        build_storage(settings)
    assert err.value.field == "storage.graph"  # the setting to change


def test_every_graph_part_makes_a_change_set_non_empty() -> None:
    assert not ChangeSet()
    assert ChangeSet(graph_close_memories=["m"])
    assert ChangeSet(graph_close=[RelationClose(scope=U1, source="a", relation="b", valid_to=T0)])
    assert ChangeSet(graph_add=[RelationDraft(source="a", relation="b", target="c", memory_id="m", scope=U1)])


async def test_reset_empties_the_graph(store: Storage) -> None:
    assert isinstance(store.graph, GraphStore)
    await remember(store, "Alice works at Acme", ("Alice", "works_at", "Acme"))
    await store.reset()
    assert await store.graph.entities(U1) == []
    assert await store.graph.relations(U1, include_expired=True) == []
    _, diff = await remember(store, "Alice works at Acme", ("Alice", "works_at", "Acme"))
    assert diff.added  # a fresh graph, not a replay


async def test_neighbours_share_the_limit_among_the_entities(store: Storage) -> None:
    """One entity with many newer relations (the user, named in nearly every fact) does not
    crowd out the others: each named entity gets its newest relations in first."""
    await remember(store, "Dana lives in Lisbon", ("Dana", "lives_in", "Lisbon"))
    await remember(store, "Dana works at Acme", ("Dana", "works_at", "Acme"), days=1)
    for i in range(60):
        await remember(store, f"Alice likes thing {i}", ("Alice", "likes", f"thing {i}"), days=2 + i)
    for names in (["Alice", "Dana"], ["Dana", "Alice"]):
        rels = await store.graph.neighbours(U1, names, limit=10)
        assert len(rels) == 10
        dana = [t for t in triples(rels) if t[0] == "Dana"]
        assert dana == [("Dana", "works_at", "Acme"), ("Dana", "lives_in", "Lisbon")]
        assert [r.valid_from for r in rels] == sorted((r.valid_from for r in rels), reverse=True)
    # A share the other entity does not use goes to the one that has more.
    assert len(await store.graph.neighbours(U1, ["Dana", "Alice"], limit=50)) == 50
    # Earlier names come first within a turn: one place left goes to Dana when Dana is named first.
    assert triples(await store.graph.neighbours(U1, ["Dana", "Alice"], limit=1)) == [
        ("Dana", "works_at", "Acme")
    ]
    assert triples(await store.graph.neighbours(U1, ["Alice", "Dana"], limit=1)) == [
        ("Alice", "likes", "thing 59")
    ]
    # The second hop is shared among the entities the first reached, too.
    await remember(store, "Acme is in Porto", ("Acme", "located_in", "Porto"), days=70)
    for i in range(20):
        await remember(store, f"Lisbon has sight {i}", ("Lisbon", "has", f"sight {i}"), days=71 + i)
    two = triples(await store.graph.neighbours(U1, ["Dana"], hops=2, limit=6))
    assert two[:2] == [("Dana", "works_at", "Acme"), ("Dana", "lives_in", "Lisbon")]
    assert ("Acme", "located_in", "Porto") in two[2:] and len(two) == 6


async def test_a_name_that_is_not_utf8_is_refused_before_anything_is_written(store: Storage) -> None:
    """A lone surrogate (valid in a Python str, not in UTF-8) is an input error, not a crash."""
    for bad in (
        {"source": "Ali\ud800ce"},
        {"target_type": "bev\ud800erage"},
        {"aliases": {"Alice": ["Al\udc00"]}},
    ):
        m = record("Alice drinks tea")
        triple = (str(bad.get("source", "Alice")), "drinks", "tea")
        extra = {k: v for k, v in bad.items() if k != "source"}
        with pytest.raises(InvalidInputError) as err:
            await store.commit(ChangeSet(upserts=[stored(m, unit(1))], graph_add=[draft(m, triple, **extra)]))
        assert err.value.field == "graph_add"
        assert await store.records.get_many([m.id]) == {}
    assert await store.graph.entities(U1) == []
    close = RelationClose(scope=U1, source="Alice", relation="likes", target="t\ud800", valid_to=T0)
    with pytest.raises(InvalidInputError):
        await store.commit(ChangeSet(graph_close=[close]))


async def test_a_sessions_entities_are_those_its_relations_touch(store: Storage) -> None:
    """Scoped to a run, entities are the sources and targets of the relations any memory of
    that run asserted, however many there are."""
    for i in range(30):
        await remember(store, f"s1 fact {i}", (f"Person {i % 5}", "knows", f"Thing {i}"), run_id="s1")
    await remember(store, "s2 fact", ("Person 0", "knows", "Thing 3"), ("Carol", "likes", "tea"), run_id="s2")
    await remember(store, "no session", ("Dave", "likes", "Person 1"))
    s1 = await store.graph.entities(Scope("u1", run_id="s1"), limit=1000)
    assert {e.name for e in s1} == {f"Person {i}" for i in range(5)} | {f"Thing {i}" for i in range(30)}
    s2 = await store.graph.entities(Scope("u1", run_id="s2"), limit=1000)
    assert {e.name for e in s2} == {"Person 0", "Thing 3", "Carol", "tea"}  # a mention in s2 counts
    assert [e.name for e in await store.graph.entities(Scope("u1", run_id="s2"), names=["tea", "Dave"])] == [
        "tea"
    ]
    assert await store.graph.entities(Scope("u1", run_id="s3")) == []
    assert await store.graph.entities(Scope("u2", run_id="s1")) == []
    assert len(await store.graph.relations(Scope("u1", run_id="s1"), limit=1000)) == 30
    assert triples(await store.graph.relations(Scope("u1", run_id="s2"))) == [
        ("Carol", "likes", "tea"),
        ("Person 0", "knows", "Thing 3"),
    ]


async def _ids(store: Storage, scope: Scope = U1) -> dict[str, str]:
    return {e.name: e.id for e in await store.graph.entities(scope)}


async def test_entities_deleted_by_id_take_their_names_relations_and_mentions(graph_store: Storage) -> None:
    store = graph_store
    await remember(store, "Alice works at Acme, likes tea", ("Alice", "works_at", "Acme"), ("Alice", "likes", "tea"))
    await remember(store, "Bob knows Carol", ("Bob", "knows", "Carol"), days=1)
    await remember(store, "u2's Alice", ("Alice", "works_at", "Acme"), user_id="u2")
    ids = await _ids(store)
    assert await store.graph.delete_entities([ids["Alice"], ids["Alice"], "no-such-entity"]) == 1
    assert await _ids(store) == {k: v for k, v in ids.items() if k != "Alice"}  # Acme and tea stay
    assert triples(await store.graph.relations(U1, include_expired=True)) == [("Bob", "knows", "Carol")]
    assert await store.graph.neighbours(U1, ["Acme", "tea"]) == []
    rows, _ = await store.graph.scan_relations(U1)
    assert [r.relation for r in rows] == ["knows"]  # no mention of the deleted relations is left
    assert await store.graph.check() == []
    assert len(await store.graph.relations(Scope("u2"))) == 1  # another owner's Alice stays
    # Its name went with it: Alice is a new entity now
    _, diff = await remember(store, "Alice likes tea again", ("alice", "likes", "tea"), days=2)
    [alice] = await store.graph.entities(U1, names=["Alice"])
    assert diff.added and alice.id != ids["Alice"]
    assert await store.graph.delete_entities([]) == 0


async def test_only_unused_entities_are_deleted_when_asked(graph_store: Storage) -> None:
    store = graph_store
    await remember(store, "Alice works at Acme", ("Alice", "works_at", "Acme"))
    lonely = EntityRow("lonely-entity", ("u1", None, None), "Zoe", "zoe", None, (("zoe", "Zoe"),), T0)
    await store.graph.restore([lonely], [])
    ids = await _ids(store)
    assert await store.graph.delete_entities([lonely.id, ids["Alice"], ids["Acme"]], unused_only=True) == 1
    assert await _ids(store) == {"Alice": ids["Alice"], "Acme": ids["Acme"]}
    assert triples(await store.graph.relations(U1)) == [("Alice", "works_at", "Acme")]


async def test_deleting_entities_joins_an_open_transaction(graph_store: Storage) -> None:
    store = graph_store
    await remember(store, "Alice works at Acme", ("Alice", "works_at", "Acme"))
    ids = await _ids(store)
    with pytest.raises(RuntimeError):
        async with store.records.transaction():
            assert await store.graph.delete_entities([ids["Alice"]]) == 0  # staged: runs at commit
            raise RuntimeError("the transaction fails")
    assert await _ids(store) == ids  # nothing of it landed
    m = record("a memory written with the deletion")
    async with store.records.transaction():
        await store.records.apply(ChangeSet(upserts=[stored(m, unit(1))]))
        await store.graph.delete_entities([ids["Alice"]])
        assert await _ids(store) == ids  # not before the commit
    assert await _ids(store) == {"Acme": ids["Acme"]}
    assert await store.graph.relations(U1, include_expired=True) == []
