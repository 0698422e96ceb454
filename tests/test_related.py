"""Graph-aware search: which entities a query and its hits name, and whose relations come back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from memoryd.config import load_settings
from memoryd.graph import RelationDraft
from memoryd.models import Scope, SearchHit
from memoryd.retrieval.related import name_candidates, related_relations
from memoryd.storage import ChangeSet, GraphStore, build_storage
from tests.storage.helpers import T0, record

U1 = Scope("u1")
Triple = tuple[str, str, str]


@pytest.fixture
async def graph(tmp_path: Path) -> AsyncIterator[GraphStore]:
    storage = build_storage(load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "g.db")}}))
    await storage.open("test-model", 8)
    try:
        yield storage.graph
    finally:
        await storage.close()


async def relate(graph: GraphStore, *triples: Triple, days: float = 0) -> None:
    await graph.apply(
        ChangeSet(
            graph_add=[
                RelationDraft(
                    source=s,
                    relation=r,
                    target=t,
                    memory_id=f"m-{s}-{t}",
                    scope=U1,
                    valid_from=T0 + timedelta(days),
                )
                for s, r, t in triples
            ]
        )
    )


async def found(graph: GraphStore, query: str, *hit_texts: str, limit: int = 50) -> list[Triple]:
    hits = [SearchHit(record(text), 1.0) for text in hit_texts]
    rels = await related_relations(graph, U1, query, hits, hops=1, as_of=None, limit=limit)
    return [(r.source.name, r.relation, r.target.name) for r in rels]


@pytest.mark.parametrize(
    "query",
    [
        "Who is Carol's sister?",
        "Who is Carol’s sister?",
        "WHO IS CAROL'S SISTER",
        "Who is Mary Ann's sister?",
    ],
)
async def test_a_possessive_names_the_entity(graph: GraphStore, query: str) -> None:
    await relate(
        graph, ("Carol", "sister_of", "Dana"), ("Mary Ann", "sister_of", "Eve"), ("Bob", "owns", "Rex")
    )
    owner = "Mary Ann" if "Mary" in query else "Carol"
    assert [t[0] for t in await found(graph, query)] == [owner]
    assert await found(graph, "What is Bob's dog called?") == [("Bob", "owns", "Rex")]


def test_possessive_candidates_keep_the_word_as_written() -> None:
    candidates = name_candidates(["Carol's sister"])
    assert {"Carol's", "Carol", "Carol's sister"} <= set(candidates)
    assert "Carol sister" not in candidates  # only a span that ends in the possessive loses it
    assert "Charles" in name_candidates(["Charles"])  # a name that ends in "s" is not touched


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("李思思住在哪里？", "李思思"),  # jieba: 李 + 思思
        ("欧阳娜娜养了什么宠物", "欧阳娜娜"),  # a compound surname: 欧阳 + 娜娜
        ("周杰伦的妻子是谁", "周杰伦"),  # one jieba word already
        ("Who is 李思思's sister?", "李思思"),
    ],
)
async def test_chinese_names_the_segmenter_splits_are_found(graph: GraphStore, query: str, name: str) -> None:
    await relate(
        graph, ("李思思", "lives_in", "上海"), ("欧阳娜娜", "owns", "猫"), ("周杰伦", "married_to", "昆凌")
    )
    assert [t[0] for t in await found(graph, query)] == [name]


def test_cjk_joins_stay_within_the_candidate_cap() -> None:
    long = "".join(chr(0x4E00 + i) for i in range(0, 6000, 3))  # a long run of unrelated characters
    candidates = name_candidates(["欧阳娜娜养了什么宠物", long])
    assert len(candidates) == 300
    assert "欧阳娜娜" in candidates  # the query's come first


async def test_an_entity_with_many_relations_does_not_crowd_out_the_others(graph: GraphStore) -> None:
    await relate(graph, ("Dana", "lives_in", "Lisbon"))
    await relate(graph, *(("Alice", "likes", f"thing {i}") for i in range(60)), days=1)
    got = await found(graph, "Does Alice know where Dana lives?")
    assert len(got) == 50 and ("Dana", "lives_in", "Lisbon") in got


async def test_entities_the_query_names_come_before_those_only_the_hits_name(graph: GraphStore) -> None:
    await relate(graph, ("Dana", "lives_in", "Lisbon"), ("Dana", "works_at", "Acme"), ("Dana", "owns", "Rex"))
    await relate(graph, *(("Alice", "likes", f"thing {i}") for i in range(10)), days=1)
    await relate(graph, ("Bob", "plays", "chess"), days=2)
    hits = ["Alice likes thing 3", "Bob plays chess", "Alice's sister Dana lives in Lisbon"]
    got = await found(graph, "Where does Dana live?", *hits, limit=4)
    assert sorted(got[:3]) == [
        ("Dana", "lives_in", "Lisbon"),
        ("Dana", "owns", "Rex"),
        ("Dana", "works_at", "Acme"),
    ]
    assert got[3] in [("Alice", "likes", "thing 9"), ("Bob", "plays", "chess")]  # the hits' share: the rest
    # Without a name in the query, the hits' entities share the limit.
    assert len(set(await found(graph, "What do I like?", *hits, limit=3))) == 3
