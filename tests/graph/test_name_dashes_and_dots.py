"""A hyphen however typed (the non-breaking hyphen models often write, an en dash, a minus sign)
and the middle dot of a transliterated Chinese name however typed (· ・ ‧ • ･) name one entity, on
SQLite and FalkorDB: "Coca‑Cola" and "Coca-Cola", "迈克尔·杰克逊" and "迈克尔・杰克逊" were two.
A store written by the release before keeps its entities: found, and joined, by the key it stored."""

from __future__ import annotations

from datetime import UTC, datetime

from memoryd.graph.normalise import normalise_name
from memoryd.models import Scope
from memoryd.storage import Storage
from memoryd.storage.portable import EntityRow
from tests.storage.conftest import graph_store  # noqa: F401 - the fixture, on SQLite and FalkorDB
from tests.storage.test_graph_invisible_names import tell


def test_keys_fold_hyphens_and_middle_dots_and_nothing_else() -> None:
    assert {normalise_name(n) for n in ["Coca-Cola", "Coca\u2011Cola", "Coca\u2010Cola", "COCA–COLA"]} == {
        "coca-cola"
    }
    dots = ["迈克尔·杰克逊", "迈克尔・杰克逊", "迈克尔‧杰克逊", "迈克尔•杰克逊", "迈克尔･杰克逊"]
    assert {normalise_name(n) for n in dots} == {"迈克尔·杰克逊"}
    assert normalise_name("Coca Cola") != normalise_name("Coca-Cola")  # a space is no hyphen
    assert normalise_name("迈克尔杰克逊") != normalise_name("迈克尔·杰克逊")


async def test_every_hyphen_and_middle_dot_names_one_entity(graph_store: Storage) -> None:  # noqa: F811
    await tell(graph_store, "Ana", "drinks", "Coca\u2011Cola", 0)
    await tell(graph_store, "Bo", "sells", "Coca-Cola", 1)
    await tell(graph_store, "Cy", "dislikes", "coca\u2013cola", 2)
    await tell(graph_store, "Ana", "likes", "迈克尔·杰克逊", 3)
    await tell(graph_store, "Bo", "likes", "迈克尔・杰克逊", 4)
    await tell(graph_store, "Cy", "likes", "迈克尔•杰克逊", 5)
    entities = await graph_store.graph.entities(Scope("u1"))
    assert sorted(e.name for e in entities) == ["Ana", "Bo", "Coca\u2010Cola", "Cy", "迈克尔·杰克逊"]  # shown NFKC, as first seen
    drink = await graph_store.graph.neighbours(Scope("u1"), ["Coca-Cola"])
    assert sorted(r.source.name for r in drink) == ["Ana", "Bo", "Cy"]
    singer = await graph_store.graph.neighbours(Scope("u1"), ["迈克尔‧杰克逊"])
    assert sorted(r.source.name for r in singer) == ["Ana", "Bo", "Cy"]


async def test_a_store_written_before_keeps_its_dashed_and_dotted_entities(
    graph_store: Storage,  # noqa: F811
) -> None:
    when = datetime(2026, 12, 1, tzinfo=UTC)
    # What the release before stored: the non-breaking hyphen NFKC makes "‐", the Japanese dot kept.
    old = [
        EntityRow("old-drink", ("u1", None, None), "Coca‑Cola", "coca‐cola", None, (("coca‐cola", "Coca‑Cola"),), when),
        EntityRow("old-singer", ("u1", None, None), "迈克尔・杰克逊", "迈克尔・杰克逊", None,
                  (("迈克尔・杰克逊", "迈克尔・杰克逊"),), when),
    ]  # fmt: skip
    await graph_store.graph.restore(old, [])
    found = await graph_store.graph.entities(Scope("u1"), names=["Coca\u2011Cola", "迈克尔・杰克逊"])
    assert sorted(e.id for e in found) == ["old-drink", "old-singer"]
    await tell(graph_store, "Ana", "drinks", "Coca\u2011Cola", 0)  # the same spelling: the same entity
    await tell(graph_store, "Ana", "likes", "迈克尔・杰克逊", 1)
    await tell(graph_store, "Bo", "sells", "Coca-Cola", 2)  # another spelling joins it too
    await tell(graph_store, "Bo", "likes", "迈克尔·杰克逊", 3)
    entities = await graph_store.graph.entities(Scope("u1"))
    assert sorted(e.id for e in entities if e.name not in ("Ana", "Bo")) == ["old-drink", "old-singer"]
    around = await graph_store.graph.neighbours(Scope("u1"), ["coca-cola", "迈克尔•杰克逊"], limit=20)
    assert sorted((r.source.name, r.relation, r.target.id) for r in around) == [
        ("Ana", "drinks", "old-drink"),
        ("Ana", "likes", "old-singer"),
        ("Bo", "likes", "old-singer"),
        ("Bo", "sells", "old-drink"),
    ]
