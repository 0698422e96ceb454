"""A Chinese or Japanese name typed with a space inside it is the name typed without: "王 小明" and
"王小明", "山田　太郎" (an ideographic space) and "山田太郎", "迈克尔 · 杰克逊" and "迈克尔·杰克逊" were two
entities each, so a relation told of one was never found around the other (a model writes a Japanese
name either way). Korean, written with spaces, keeps them. A store written before keeps its entities,
found and joined by the spaced key it stored. On SQLite and FalkorDB."""

from __future__ import annotations

from datetime import UTC, datetime

from memoryd.models import Scope
from memoryd.storage import Storage
from memoryd.storage.portable import EntityRow
from tests.storage import conftest as storage_fixtures
from tests.storage.test_graph_invisible_names import tell

graph_store = storage_fixtures.graph_store  # the fixture: a store on SQLite, one on FalkorDB
U1 = Scope("u1")


async def test_a_space_inside_a_chinese_or_japanese_name_is_no_other_entity(graph_store: Storage) -> None:
    await tell(graph_store, "王 小明", "lives in", "北京", 0)
    await tell(graph_store, "王小明", "works at", "Acme", 1)
    await tell(graph_store, "山田　太郎", "lives in", "東京", 2)
    await tell(graph_store, "山田 太郎", "likes", "寿司", 3)
    await tell(graph_store, "山田太郎", "works at", "Sony", 4)
    await tell(graph_store, "迈克尔 · 杰克逊", "lives in", "洛杉矶", 5)
    await tell(graph_store, "迈克尔·杰克逊", "sings", "Thriller", 6)
    await tell(graph_store, "김 민수", "lives in", "서울", 7)  # Korean is written with spaces
    await tell(graph_store, "김민수", "works at", "Samsung", 8)
    people = await graph_store.graph.entities(
        U1, names=["王小明", "山田太郎", "迈克尔·杰克逊", "김 민수", "김민수"]
    )
    assert sorted(e.name for e in people) == ["山田 太郎", "王 小明", "迈克尔 · 杰克逊", "김 민수", "김민수"]
    for name, targets in [
        ("王小明", ["Acme", "北京"]),
        ("王 小明", ["Acme", "北京"]),
        ("山田太郎", ["Sony", "寿司", "東京"]),
        ("迈克尔・杰克逊", ["Thriller", "洛杉矶"]),
    ]:
        around = await graph_store.graph.neighbours(U1, [name])
        assert sorted(r.target.name for r in around) == targets, name
    assert [r.target.name for r in await graph_store.graph.neighbours(U1, ["김민수"])] == ["Samsung"]


async def test_a_store_written_before_keeps_its_spaced_names(graph_store: Storage) -> None:
    when = datetime(2026, 11, 30, tzinfo=UTC)
    old = EntityRow(
        "old-wang", ("u1", None, None), "王 小明", "王 小明", None, (("王 小明", "王 小明"),), when
    )
    await graph_store.graph.restore([old], [])
    found = await graph_store.graph.entities(U1, names=["王 小明"])
    assert [(e.id, e.aliases) for e in found] == [("old-wang", ())]
    await tell(graph_store, "王 小明", "lives in", "北京", 0)  # the same spelling: the same entity
    await tell(graph_store, "王小明", "works at", "Acme", 1)  # now known by the new key too
    assert [e.id for e in await graph_store.graph.entities(U1, names=["王小明"])] == ["old-wang"]
    around = await graph_store.graph.neighbours(U1, ["王小明"])
    assert sorted((r.source.id, r.target.name) for r in around) == [
        ("old-wang", "Acme"),
        ("old-wang", "北京"),
    ]
