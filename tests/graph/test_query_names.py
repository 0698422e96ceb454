"""``search(..., graph_hops=1)`` finds an entity whatever hyphen, middle dot or apostrophe the query
types, as the graph merges them: "迈克尔·杰克逊住在哪里" never named "迈克尔·杰克逊" (the runs either
side of the dot were never joined), "Coca‑Cola" (a non-breaking hyphen) only "Coca Cola", "St. Louis"
only "St Louis", "我的iPhone 15" never "iPhone 15". A long query offers a bounded number of names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.models import Scope
from memoryd.retrieval.related import name_candidates, related_relations
from memoryd.storage import Storage
from memoryd.storage.portable import EntityRow
from tests.fakes.llm_server import Script
from tests.fine.conftest import llm_settings
from tests.fine.test_fine_mode import facts
from tests.storage.conftest import graph_store  # noqa: F401 - the fixture, on SQLite and FalkorDB
from tests.storage.test_graph_invisible_names import tell

ANA = {"user_id": "ana"}
TOLD = [  # none names Ana, whom the memory (the search's hit) names: each is found by the query alone
    ("Coca-Cola", "made_in", "Atlanta"),
    ("迈克尔·杰克逊", "lives_in", "洛杉矶"),
    ("マイケル・ジャクソン", "born_in", "ゲーリー"),
    ("马丁·路德·金", "born_in", "亚特兰大"),
    ("O'Brien", "lives_in", "Dublin"),
    ("St. Louis", "lies_in", "Missouri"),
    ("iPhone 15", "made_by", "Apple"),
    ("The Lord of the Rings", "written_by", "Tolkien"),
    ("Jean-Luc Picard", "commands", "Enterprise"),
]


@pytest.fixture
async def told(tmp_path: Path, fake_llm: Script, embedder: USEEmbedder) -> AsyncIterator[AsyncMemory]:
    """Fine mode whose graph holds ``TOLD``, written by the model's answer to one message."""
    mem = await AsyncMemory(llm_settings(tmp_path, fake_llm.base_url), embedder=embedder).open()
    try:
        relations: list[dict[str, Any]] = [
            {"source": s, "relation": r, "target": t, "fact": 0} for s, r, t in TOLD
        ]
        fake_llm.reply_json({**facts("Ana told us a few things"), "relations": relations})
        await mem.add("Ana told us a few things", **ANA, timestamp="2024-01-01T00:00:00Z")
        assert fake_llm.pending == 0
        yield mem
    finally:
        await mem.close()


@pytest.mark.parametrize(
    ("query", "told_relation"),
    [
        ("迈克尔·杰克逊住在哪里", TOLD[1]),
        ("迈克尔・杰克逊住在哪里", TOLD[1]),  # the Japanese dot
        ("我想知道迈克尔•杰克逊住在哪里", TOLD[1]),  # a bullet, and words before the name
        ("マイケル･ジャクソンはどこで生まれましたか", TOLD[2]),  # a half-width dot, a katakana name
        ("马丁·路德·金是谁", TOLD[3]),  # three parts; the segmenter cuts "金是"
        ("Where is Coca\u2011Cola made?", TOLD[0]),  # the non-breaking hyphen
        ("Coca\u2013Cola", TOLD[0]),  # an en dash
        ("Where does O’Brien live?", TOLD[4]),  # found before too: the graph folds ’
        ("Where does O‘Brien live?", TOLD[4]),
        ("Which state is St. Louis in?", TOLD[5]),
        ("我的iPhone 15坏了", TOLD[6]),
        ("Who wrote “The Lord of the Rings”?", TOLD[7]),
        ("Is Jean\u2010Luc Picard still in command?", TOLD[8]),
    ],
)
async def test_the_query_finds_the_entity_however_it_is_typed(
    told: AsyncMemory, query: str, told_relation: tuple[str, str, str]
) -> None:
    found = await told.search(query, **ANA, graph_hops=1)
    assert found.relations is not None
    assert told_relation in [(r.source.name, r.relation, r.target.name) for r in found.relations]


def test_a_long_query_offers_a_bounded_number_of_names() -> None:
    long = " ".join(f"Name{i}\u2011x of St. Louis and 迈克{i}·杰克逊{i}" for i in range(2000))
    candidates = name_candidates(["迈克尔·杰克逊住在哪里", long, "Coca-Cola"])
    assert len(candidates) == 300 == len(set(candidates))
    assert {"迈克尔·杰克逊", "Name0\u2011x"} <= set(candidates)  # the first text's names come first
    assert "Coca-Cola" not in candidates


async def test_a_query_finds_an_entity_a_store_written_before_keeps_by_its_old_key(
    graph_store: Storage,  # noqa: F811
) -> None:
    """The names are looked up as typed, so the graph also tries the key an older release stored."""
    when = datetime(2026, 12, 1, tzinfo=UTC)
    old = EntityRow(
        "old-drink", ("u1", None, None), "Coca‑Cola", "coca‐cola", None, (("coca‐cola", "Coca‑Cola"),), when
    )
    await graph_store.graph.restore([old], [])
    await tell(graph_store, "Ana", "drinks", "Coca\u2011Cola", 0)  # the same spelling: the old entity
    found = await related_relations(
        graph_store.graph, Scope("u1"), "Who drinks Coca\u2011Cola?", [], hops=1, as_of=None
    )
    assert [(r.source.name, r.relation, r.target.id) for r in found] == [("Ana", "drinks", "old-drink")]
