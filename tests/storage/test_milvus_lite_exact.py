"""Milvus Lite searches exactly (a FLAT index): a scope's search lists every one of its memories
when the limit allows, in the order of their true cosines, as the embedded index does. With
Lite's AUTOINDEX, a store moved into it by `memoryd import` lost a quarter of a user's memories
from every search (sealed segments searched approximately; rows still growing are compared one
by one whatever the index, so the search that shows it is the next process's)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.models import Scope
from memoryd.portability import export_store, import_store

pytest.importorskip("milvus_lite")

CJK = ["我喜欢在周末去西湖散步", "東京の桜はとても綺麗です", "저는 김치찌개를 좋아해요", "明日は大阪で会議があります"]
EN = ["I like {x}", "My favourite colour is {x}", "I work on project {x}", "I visited {x} last summer"]
WORDS = ["Lisbon", "green", "Orion", "Sarah", "Kyoto", "jazz", "Rust", "pasta", "Oslo", "chess", "violin"]


async def _fill(mem: AsyncMemory) -> None:
    rnd = random.Random(7)
    for n, (user, agent, run) in enumerate(
        (u, a, r) for u in ("u1", "u2", "u3") for a in (None, "helper", "coach") for r in ("r1", "r2", "r3")
    ):
        turns = [
            rnd.choice(EN).format(x=rnd.choice(WORDS)) + f" ({user}/{agent}/{run}/{i})"
            if rnd.random() < 0.7
            else rnd.choice(CJK) + f" #{n}.{i}"
            for i in range(12)
        ]
        messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]
        await mem.add(messages, user_id=user, agent_id=agent, run_id=run)


def _settings(path: Path, engine: str):  # type: ignore[no-untyped-def]
    storage = {"path": str(path), "vectors": engine, "synchronous": "NORMAL"}
    return load_settings(env={}, overrides={"storage": storage})


async def test_a_store_imported_into_milvus_lite_is_searched_exactly(tmp_path: Path, embedder: USEEmbedder) -> None:
    from pymilvus import MilvusClient

    query = embedder.embed(["where did I travel?"])[0]
    async with AsyncMemory(_settings(tmp_path / "a" / "m.db", "sqlite"), embedder=embedder) as mem:
        await _fill(mem)
        await export_store(mem, tmp_path / "all.jsonl")
        current = (await mem.get_all(user_id="u1", limit=1000)).total
        exact = await mem.storage.vectors.search(query, scope=Scope("u1"), limit=500)
    target = _settings(tmp_path / "b" / "m.db", "milvus")
    async with AsyncMemory(target, embedder=embedder) as mem:
        await import_store(mem, tmp_path / "all.jsonl")
    # Searched by the next process: the import's rows sealed (its close flushes them) and indexed.
    # Searched while still growing, they are compared one by one whatever the index (AUTOINDEX too).
    async with AsyncMemory(target, embedder=embedder) as mem:
        found = await mem.storage.vectors.search(query, scope=Scope("u1"), limit=500)
    client = MilvusClient(str(tmp_path / "b" / "m.db.milvus.db"))
    try:
        index = client.describe_index("memoryd", "vector")
    finally:
        client.close()
    assert index["index_type"] == "FLAT" and index["indexed_rows"] == index["total_rows"] > current
    assert len(exact) == current > 100
    # every one, in the exact order (Lite's AUTOINDEX found 83 of these 120, in another order)
    assert [mid for mid, _ in found] == [mid for mid, _ in exact]


async def test_milvus_lite_indexes_exactly_and_an_older_stores_approximate_index_is_made_exact(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    from pymilvus import MilvusClient

    settings = _settings(tmp_path / "m.db", "milvus")
    lite = str(tmp_path / "m.db.milvus.db")
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await _fill(mem)
        every = (await mem.get_all(user_id="u1", limit=1000)).total
    client = MilvusClient(lite)
    try:
        assert client.describe_index("memoryd", "vector")["index_type"] == "FLAT"
        # as memoryd made them before: Lite's AUTOINDEX, searched approximately once sealed
        client.release_collection("memoryd")
        client.drop_index("memoryd", "vector")
        approximate = MilvusClient.prepare_index_params()
        approximate.add_index(field_name="vector", index_type="AUTOINDEX", metric_type="COSINE")
        client.create_index("memoryd", approximate)
    finally:
        client.close()
    async with AsyncMemory(settings, embedder=embedder) as mem:
        hits = await mem.storage.vectors.search(embedder.embed(["pasta"])[0], scope=Scope("u1"), limit=500)
        assert len(hits) == every
    client = MilvusClient(lite)
    try:
        assert client.describe_index("memoryd", "vector")["index_type"] == "FLAT"
    finally:
        client.close()
