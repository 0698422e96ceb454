"""Names that differ only by how case or an apostrophe was typed are one entity, on SQLite and
FalkorDB: "İstanbul" (Python case-folds the Turkish dotted capital I to "i" plus a combining dot)
made another entity than "istanbul", and "O‘Brien", "O`Brien" or "O´Brien" another than "O'Brien".
A store written before keeps its entities: they are found, and joined, by the key it stored."""

from __future__ import annotations

from datetime import UTC, datetime

from memoryd.models import Scope
from memoryd.storage import Storage
from memoryd.storage.portable import EntityRow
from tests.storage.test_graph_invisible_names import tell


async def test_turkish_dotted_i_and_german_sharp_s_name_one_entity(graph_store: Storage) -> None:
    await tell(graph_store, "Ayşe", "lives in", "İstanbul", 0)
    await tell(graph_store, "Mehmet", "lives in", "istanbul", 1)
    await tell(graph_store, "Zeynep", "works in", "ISTANBUL", 2)
    await tell(graph_store, "Ayşe", "lives on", "Hauptstraße", 3)
    await tell(graph_store, "Mehmet", "lives on", "HAUPTSTRASSE", 4)
    entities = await graph_store.graph.entities(Scope("u1"))
    assert sorted(e.name for e in entities) == ["Ayşe", "Hauptstraße", "Mehmet", "Zeynep", "İstanbul"]
    city = await graph_store.graph.neighbours(Scope("u1"), ["istanbul"])
    assert sorted((r.source.name, r.target.name) for r in city) == [
        ("Ayşe", "İstanbul"),
        ("Mehmet", "İstanbul"),
        ("Zeynep", "İstanbul"),
    ]


async def test_every_apostrophe_names_one_entity(graph_store: Storage) -> None:
    spellings = ["O'Brien", "O’Brien", "O‘Brien", "Oʼbrien", "O＇Brien", "O`Brien", "O´Brien"]
    for day, spelling in enumerate(spellings):
        await tell(graph_store, spelling, "knows", f"friend {day}", day)
    entities = await graph_store.graph.entities(Scope("u1"), names=["o’brien"])
    assert [e.name for e in entities] == ["O'Brien"]
    around = await graph_store.graph.neighbours(Scope("u1"), ["O‘BRIEN"], limit=20)
    assert sorted(r.target.name for r in around) == [f"friend {day}" for day in range(len(spellings))]


async def test_a_bracket_in_a_name_keeps_it_apart(graph_store: Storage) -> None:
    await tell(graph_store, "Alice", "lives in", "Paris (Texas)", 0)
    await tell(graph_store, "Bob", "lives in", "Paris", 1)
    await tell(graph_store, "Carol", "lives in", "Paris (Texas", 2)  # the bracket left open: the same place
    texas = await graph_store.graph.neighbours(Scope("u1"), ["Paris (Texas)"])
    assert sorted((r.source.name, r.target.name) for r in texas) == [
        ("Alice", "Paris (Texas)"),
        ("Carol", "Paris (Texas)"),
    ]
    france = await graph_store.graph.neighbours(Scope("u1"), ["paris"])
    assert [(r.source.name, r.target.name) for r in france] == [("Bob", "Paris")]


def _old_entity(entity_id: str, name: str, old_key: str) -> EntityRow:
    """An entity as the release before wrote it: its name under the key that release made of it."""
    when = datetime(2026, 11, 30, tzinfo=UTC)
    return EntityRow(entity_id, ("u1", None, None), name, old_key, None, ((old_key, name),), when)


async def test_a_store_written_before_keeps_its_entities(graph_store: Storage) -> None:
    # What the release before stored for these names (its key kept the combining dot and the ‘).
    city = _old_entity("old-city", "İstanbul", "i\u0307stanbul")
    person = _old_entity("old-person", "O‘Brien", "o‘brien")
    await graph_store.graph.restore([city, person], [])
    found = await graph_store.graph.entities(Scope("u1"), names=["İstanbul", "O‘Brien"])
    assert sorted(e.id for e in found) == ["old-city", "old-person"]
    assert all(e.aliases == () for e in found)
    await tell(graph_store, "O‘Brien", "lives in", "İstanbul", 0)  # the same spellings: the same entities
    await tell(graph_store, "O'Brien", "works in", "istanbul", 1)  # another spelling joins them too
    entities = await graph_store.graph.entities(Scope("u1"))
    assert sorted((e.id, e.name, e.aliases) for e in entities) == [
        ("old-city", "İstanbul", ()),
        ("old-person", "O‘Brien", ()),
    ]
    around = await graph_store.graph.neighbours(Scope("u1"), ["İSTANBUL"])
    assert sorted((r.source.id, r.relation, r.target.id) for r in around) == [
        ("old-person", "lives_in", "old-city"),
        ("old-person", "works_in", "old-city"),
    ]
