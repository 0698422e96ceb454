"""Names that look the same are one entity: invisible characters copied text carries (a zero-width
space, a soft hyphen, a byte-order mark) and a typographic apostrophe (’) made another entity, so
"Alice" lost the relations told of "Alice" followed by a zero-width space, and "McDonald’s" those
of "McDonald's"."""

from __future__ import annotations

from memoryd.models import MemoryRecord, Scope
from memoryd.storage import ChangeSet, Storage
from tests.storage.helpers import record, stored, unit
from tests.storage.test_graph import draft


async def tell(store: Storage, source: str, relation: str, target: str, days: float) -> MemoryRecord:
    m = record(f"{source} {relation} {target}", days=days)
    await store.commit(
        ChangeSet(upserts=[stored(m, unit(1))], graph_add=[draft(m, (source, relation, target))])
    )
    return m


async def test_invisible_characters_and_curly_apostrophes_name_the_same_entity(graph_store: Storage) -> None:
    await tell(graph_store, "Alice", "likes", "tea", 0)
    await tell(graph_store, "Alice\u200b", "works at", "McDonald's", 1)  # a zero-width space
    await tell(graph_store, "\ufeffAli\u00adce", "lives in", "Paris", 2)  # a byte-order mark, a soft hyphen
    await tell(graph_store, "Bob", "wor\u00adks\u200bat", "McDonald’s", 3)
    entities = await graph_store.graph.entities(Scope("u1"))
    assert sorted(e.name for e in entities) == ["Alice", "Bob", "McDonald's", "Paris", "tea"]
    around = await graph_store.graph.neighbours(Scope("u1"), ["alice"])
    assert sorted((r.source.name, r.relation, r.target.name) for r in around) == [
        ("Alice", "likes", "tea"),
        ("Alice", "lives_in", "Paris"),
        ("Alice", "works_at", "McDonald's"),
    ]
    employer = await graph_store.graph.neighbours(Scope("u1"), ["McDonald’s"])
    assert sorted((r.source.name, r.relation) for r in employer) == [
        ("Alice", "works_at"),
        ("Bob", "works_at"),
    ]


async def test_a_name_only_invisible_characters_is_no_name(graph_store: Storage) -> None:
    m = record("nothing")
    blank = draft(m, ("\u200b\u00ad", "likes", "tea"))
    diff = await graph_store.commit(ChangeSet(upserts=[stored(m, unit(1))], graph_add=[blank]))
    assert diff.added == [] and len(diff.skipped) == 1
    assert await graph_store.graph.entities(Scope("u1")) == []
