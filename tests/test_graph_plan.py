"""The in-memory graph write planner (memoryd.graph.plan), directly: what it asks for, what it
writes back. Its results against the embedded store are checked end to end in
tests/storage/test_graph_falkordb.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memoryd.graph import RelationDraft
from memoryd.graph.plan import (
    EntityState,
    NameState,
    Need,
    Planner,
    RelationState,
    Snapshot,
    micros,
    name_key,
)
from memoryd.graph.writes import GraphWrite, owner_key, prepare_add
from memoryd.models import Scope

NOW = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
OWNER = owner_key(Scope("u1"))


def adds(*triples: tuple[str, str, str], **extra: object) -> GraphWrite:
    drafts = [
        RelationDraft(source=s, relation=r, target=t, memory_id="m1", scope=Scope("u1"), **extra)  # type: ignore[arg-type]
        for s, r, t in triples
    ]
    return GraphWrite(adds=[a for a in (prepare_add(d, NOW) for d in drafts) if a is not None])


def test_a_write_on_an_empty_graph_creates_everything_and_says_so() -> None:
    snap = Snapshot(seq=7, names={name_key(OWNER, "alice"): None, name_key(OWNER, "acme"): None},
                    outs=set())  # fmt: skip
    planner = Planner(snap, NOW).run(adds(("Alice", "works at", "Acme")))
    delta = planner.delta()
    assert [e.name for e in delta.entity_creates] == ["Alice", "Acme"]
    assert [n.key for n in delta.names] == [name_key(OWNER, "alice"), name_key(OWNER, "acme")]
    [rel] = delta.relation_creates
    assert (rel.relation, rel.memory_id, rel.valid_from) == ("works_at", "m1", micros(NOW))
    assert [m.key for m in delta.mention_creates] == [(rel.id, "m1")]
    assert (delta.seq, delta.next_seq) == (7, 7 + 6)  # two entities, two names, a relation, a mention
    assert planner.diff.added == [{"source": "Alice", "relationship": "works_at", "target": "Acme"}]
    assert not delta.entity_deletes and not delta.relation_deletes and not delta.name_deletes


def test_a_name_the_snapshot_did_not_load_is_asked_for() -> None:
    with pytest.raises(Need) as need:
        Planner(Snapshot(seq=0), NOW).run(adds(("Alice", "likes", "tea")))
    assert need.value.keys == [name_key(OWNER, "alice")]  # the source's, the first it resolves


def test_an_alias_merge_asks_for_the_relations_of_the_entity_that_goes() -> None:
    """Bob (older) and Robert (newer) become one: Robert's relations must be read before moving."""
    bob = EntityState("e-bob", OWNER, "u1", None, "Bob", "bob", None, 1, 1)
    robert = EntityState("e-rob", OWNER, "u1", None, "Robert", "robert", "person", 2, 2)
    names = {
        name_key(OWNER, "bob"): NameState(OWNER, "bob", "Bob", "e-bob", 3),
        name_key(OWNER, "robert"): NameState(OWNER, "robert", "Robert", "e-rob", 4),
        name_key(OWNER, "tea"): None,
    }
    snap = Snapshot(seq=4, names=names, entities={"e-bob": bob, "e-rob": robert},
                    degree={"e-bob": 0, "e-rob": 1}, outs={("e-bob", "likes")})  # fmt: skip
    write = adds(("Bob", "likes", "tea"), aliases={"Bob": ["Robert"]})
    with pytest.raises(Need) as need:
        Planner(snap, NOW).run(write)
    assert need.value.touching == ["e-rob"]
    # Loaded: Robert's one relation (to Acme), and the relations Bob then needs to check for a duplicate.
    acme = EntityState("e-acme", OWNER, "u1", None, "Acme", "acme", None, 0, 0)
    snap.entities["e-acme"] = acme
    snap.degree["e-acme"] = 1
    snap.relations["r1"] = RelationState("r1", "u1", None, "e-rob", "works_at", "e-acme", "m0", None, 5, None,
                                         None, 5, 5)  # fmt: skip
    snap.mentions["r1"] = []
    snap.touching.add("e-rob")
    snap.outs.add(("e-bob", "works_at"))
    planner = Planner(snap, NOW).run(write)
    delta = planner.delta()
    assert delta.repoint == [("e-rob", "e-bob")] and delta.entity_deletes == ["e-rob"]
    assert [e.type for e in delta.entity_updates] == ["person"]  # the first type seen survives
    assert delta.relation_deletes == ["r1"] and delta.relation_creates[0].source == "e-bob"  # moved
