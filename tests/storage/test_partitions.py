"""The in-memory partitions on their own: BM25 arithmetic, projection recall, racing loads."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest

from memoryd.models import Scope
from memoryd.storage import ChangeSet, Storage, StoredMemory
from memoryd.storage.sqlite.bm25 import K1, B, BM25Partition
from memoryd.storage.sqlite.vectors import VectorPartition
from tests.storage.helpers import adds, record, unit


def test_bm25_matches_the_okapi_formula() -> None:
    docs = [["red", "apple"], ["red", "red", "car", "fast"], ["green", "apple", "pie", "recipe", "easy"]]
    part = BM25Partition()
    memories = [record(" ".join(d)) for d in docs]
    for m, terms in zip(memories, docs, strict=True):
        part.put(m, terms)
    avg = sum(map(len, docs)) / 3

    def expected(doc: list[str], query: list[str]) -> float:
        total = 0.0
        for t in query:
            df = sum(t in d for d in docs)
            tf = doc.count(t)
            if tf:
                idf = math.log(1 + (3 - df + 0.5) / (df + 0.5))
                total += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * len(doc) / avg))
        return total

    hits = dict(part.search(["red", "apple"], Scope("u1"), 10, None))
    for m, d in zip(memories, docs, strict=True):
        assert math.isclose(hits[m.id], expected(d, ["red", "apple"]), rel_tol=1e-5)
    part.drop(memories[1].id)
    assert memories[1].id not in dict(part.search(["red"], Scope("u1"), 10, None))


def test_bm25_text_change_retires_the_old_terms() -> None:
    part = BM25Partition()
    m = record("old words")
    part.put(m, ["old", "words"])
    part.put(m.with_changes(text="new text"), ["new", "text"])
    assert part.search(["old"], Scope("u1"), 5, None) == []
    assert [h[0] for h in part.search(["new"], Scope("u1"), 5, None)] == [m.id]


def test_projection_shortlist_agrees_with_exact_search() -> None:
    rng = np.random.default_rng(3)
    # Sentence embeddings have a decaying spectrum: a few directions carry most variance.
    spectrum = (1.0 / np.arange(1, 65)) ** 0.8
    vecs = (rng.normal(size=(20000, 64)) * spectrum).astype(np.float32) + 0.5 * spectrum.astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    exact, approx = VectorPartition(64, exact_max=100_000), VectorPartition(64, exact_max=500)
    memories = [record(f"v{i}") for i in range(20000)]
    for m, v in zip(memories, vecs, strict=True):
        exact.put(m, v)
        approx.put(m, v)
    assert not exact.wants_projection and approx.wants_projection  # built off the write path
    approx.build_projection()
    assert exact.basis is None and approx.basis is not None and not approx.wants_projection
    found = 0
    for qi in range(50):
        q = vecs[qi * 7] + 0.3 * (rng.normal(size=64) * spectrum).astype(np.float32)
        q /= np.linalg.norm(q)
        want = [h[0] for h in exact.search(q, Scope("u1"), 10, None)]
        got = [h[0] for h in approx.search(q, Scope("u1"), 10, None)]
        found += len(set(want) & set(got))
    assert found / 500 >= 0.98, found / 500


async def test_commits_racing_a_partition_load_are_not_lost(store: Storage) -> None:
    await store.commit(adds(*[(record(f"seed {i}"), unit(1, i / 100)) for i in range(200)]))
    for round_ in range(5):
        for index in (store.vectors, store.keywords):  # the embedded indexes: load partitions again
            if hasattr(index, "cache"):
                index.cache.clear()
        fresh = record(f"racer {round_}")
        search = asyncio.ensure_future(store.vectors.search(unit(0, 1), scope=Scope("u1"), limit=500))
        kw = asyncio.ensure_future(store.keywords.search(["racer"], scope=Scope("u1"), limit=5))
        await store.commit(adds((fresh, unit(0, 1))))
        await asyncio.gather(search, kw)
        ids = [h[0] for h in await store.vectors.search(unit(0, 1), scope=Scope("u1"), limit=round_ + 1)]
        assert fresh.id in ids
        assert fresh.id in {h[0] for h in await store.keywords.search(["racer"], scope=Scope("u1"), limit=50)}
    await store.commit(ChangeSet(deletes=[fresh.id]))
    assert fresh.id not in {h[0] for h in await store.vectors.search(unit(0, 1), scope=Scope("u1"), limit=5)}


def test_sliced_matvec_equals_the_plain_product() -> None:
    import numpy as np

    from memoryd.storage.sqlite.vectors import SPLIT_CELLS, matvec

    rng = np.random.default_rng(7)
    mat = rng.standard_normal((SPLIT_CELLS // 512 + 333, 512)).astype(np.float32)
    q = rng.standard_normal(512).astype(np.float32)
    assert np.allclose(matvec(mat, q), mat @ q, atol=1e-4)
    assert np.allclose(matvec(mat[:10], q), mat[:10] @ q)  # small: not sliced


async def test_a_partition_grown_past_exact_search_gets_its_projection_in_the_background(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from memoryd.storage.sqlite.database import SQLiteDatabase
    from memoryd.storage.sqlite.vectors import SQLiteVectorIndex

    db = SQLiteDatabase(tmp_path / "v.db")
    index = SQLiteVectorIndex(db, exact_max=300)
    await index.open("model", 64)
    rng = np.random.default_rng(5)
    vecs = rng.normal(size=(400, 64)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    memories = [record(f"v{i}") for i in range(400)]
    try:
        await index.apply(ChangeSet(upserts=[StoredMemory(m, v) for m, v in zip(memories[:200], vecs[:200], strict=True)]))
        q = vecs[250]
        assert (await index.search(q, scope=Scope("u1"), limit=5))[0][0] != memories[250].id  # not there yet
        await index.apply(ChangeSet(upserts=[StoredMemory(m, v) for m, v in zip(memories[200:], vecs[200:], strict=True)]))
        first = await index.search(q, scope=Scope("u1"), limit=5)  # exact, and starts the build
        assert first[0][0] == memories[250].id
        for _ in range(200):
            if not index._builds:
                break
            await asyncio.sleep(0.01)
        part = await index.cache.get(("user_id", "u1"))
        assert part.basis is not None and part.proj.shape[1] == part.pdim
        assert await index.search(q, scope=Scope("u1"), limit=5) == first  # the shortlist agrees
    finally:
        await index.close()


async def test_a_partition_load_overtaken_by_a_reset_is_not_kept(store: Storage) -> None:
    old = record("before the reset")
    await store.commit(adds((old, unit(0, 1))))
    if not hasattr(store.vectors, "cache"):
        pytest.skip("this vector index keeps no partitions in memory")
    cache = store.vectors.cache
    real_load, loaded, go_on = cache._load, asyncio.Event(), asyncio.Event()

    async def load_then_wait(key):  # type: ignore[no-untyped-def]
        part = await real_load(key)  # the real read, from before the reset
        loaded.set()
        await go_on.wait()
        return part

    cache._load = load_then_wait
    try:
        search = asyncio.ensure_future(store.vectors.search(unit(0, 1), scope=Scope("u1"), limit=5))
        await loaded.wait()
        await store.reset()  # clears the cache while that load is still on its way in
        go_on.set()
        await search
    finally:
        cache._load = real_load
    assert await store.vectors.search(unit(0, 1), scope=Scope("u1"), limit=5) == []


def test_a_loaded_bm25_partition_scores_as_one_put_memory_by_memory() -> None:
    # A load builds the postings at once (BM25Partition.loaded); it must answer as the same rows
    # put one by one: text changes (a retired slot), other scopes, a superseded memory, puts after.
    words = "red apple car fast green pie recipe easy blue sky sea boat".split()
    rng = np.random.default_rng(7)
    memories = [
        record(" ".join(rng.choice(words, size=int(rng.integers(1, 9)))), user_id=f"u{i % 2}", run_id=f"r{i % 3}")
        for i in range(60)
    ]
    memories[5] = memories[5].with_changes(valid_to=memories[5].created_at)
    rows = [(m, m.text.split()) for m in memories]
    rows.append((memories[3].with_changes(text="sky sky boat"), ["sky", "sky", "boat"]))  # its text changed
    one_by_one = BM25Partition()
    for memory, terms in rows:
        one_by_one.put(memory, terms)
    loaded = BM25Partition.loaded(rows)
    later = [record("red boat again", user_id="u0"), memories[7].with_changes(text="pie pie")]
    for part in (one_by_one, loaded):
        for memory in later:
            part.put(memory, memory.text.split())
        part.drop(memories[9].id)
    for query in (["red"], ["sky", "boat"], ["pie", "apple", "easy"], ["again"], ["nothing"]):
        for scope in (Scope("u0"), Scope("u1"), Scope(run_id="r1"), Scope("u0", run_id="r2")):
            expected = one_by_one.search(query, scope, 100, None)
            got = loaded.search(query, scope, 100, None)
            assert [h[0] for h in got] == [h[0] for h in expected], (query, scope)
            assert np.allclose([h[1] for h in got], [h[1] for h in expected], rtol=1e-6)


async def test_a_reopened_store_finds_what_it_found_before_with_the_same_scores(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    # Partitions loaded when a store opens again (bulk) give the scores the ones kept up to date
    # write by write gave; past exact_search_max, the vectors are searched exactly until the
    # projection is built, so the hits are the same too.
    from memoryd import AsyncMemory, load_settings

    settings = load_settings(
        env={}, overrides={"storage": {"path": str(tmp_path / "m.db"), "exact_search_max": 16}}
    )
    queries = ["where did I go hiking", "my sister's dog", "coffee in the morning", "piano lessons"]
    texts = [
        f"{a} {b} {c} on day {i}"
        for i, (a, b, c) in enumerate(
            (a, b, c)
            for a in ("I went hiking", "My sister's dog", "Coffee", "Piano lessons")
            for b in ("in the Alps", "every morning", "with friends")
            for c in ("was fun", "felt long", "again")
        )
    ]

    async def answers(mem: AsyncMemory) -> list[list[tuple[str, float, float | None, float | None]]]:
        out = []
        for q in queries:
            hits = await mem.search(q, user_id="ana", limit=10, explain=True)
            parts = [(h.score, h.explain["bm25"], h.explain["dense_cosine"]) for h in hits]  # type: ignore[index]
            out.append([(h.memory.id, *(math.nan if p is None else p for p in ps)) for h, ps in zip(hits, parts)])
        return out

    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add(texts[:20], user_id="ana")
        await answers(mem)  # the partitions are loaded now; what follows is applied to them
        await mem.add(texts[20:], user_id="ana")
        first = (await mem.get_all(user_id="ana", limit=5)).items[0]
        await mem.update(first.id, "I went hiking in the Alps with my sister's dog")
        await mem.delete((await mem.get_all(user_id="ana", limit=5)).items[1].id)
        before = await answers(mem)
    async with AsyncMemory(settings, embedder=embedder) as mem:
        after = await answers(mem)
    for was, now in zip(before, after, strict=True):
        assert [h[0] for h in now] == [h[0] for h in was]
        assert np.allclose([h[1:] for h in now], [h[1:] for h in was], rtol=1e-5, equal_nan=True)


async def test_a_projection_built_after_a_load_counts_against_the_cache_budget(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A partition past exact_max gets its projection after it is loaded (on a reader thread); its
    # bytes were not counted, so the cache held more than vector_cache_mb. Now they are, and the
    # least recently used partition makes room.
    from memoryd.storage.sqlite.database import SQLiteDatabase
    from memoryd.storage.sqlite.vectors import SQLiteVectorIndex

    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(460, 64)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    memories = [record(f"v{i}", user_id="big" if i < 400 else "small") for i in range(460)]
    db = SQLiteDatabase(tmp_path / "v.db")

    async def projected(index: SQLiteVectorIndex) -> None:
        for _ in range(500):
            if not index._builds:
                return
            await asyncio.sleep(0.01)

    index = SQLiteVectorIndex(db, exact_max=300)
    await index.open("model", 64)
    await index.apply(ChangeSet(upserts=[StoredMemory(m, v) for m, v in zip(memories, vecs, strict=True)]))
    await index.search(vecs[0], scope=Scope("big"), limit=5)  # loaded, then projected
    await projected(index)
    big = await index.cache.get(("user_id", "big"))
    small = await index.cache.get(("user_id", "small"))
    assert big.basis is not None and big.proj.nbytes > 0
    await index.close()

    # room for both as loaded, not for both once the big one is projected
    budget = big.mat.nbytes + small.nbytes + big.proj.nbytes // 2
    index = SQLiteVectorIndex(SQLiteDatabase(tmp_path / "v.db"), cache_bytes=budget, exact_max=300)
    await index.open("model", 64)
    try:
        await index.search(vecs[450], scope=Scope("small"), limit=5)
        await index.search(vecs[0], scope=Scope("big"), limit=5)
        assert index.cache.loads == 2
        await projected(index)
        await index.search(vecs[450], scope=Scope("small"), limit=5)  # evicted: loaded again
        assert index.cache.loads == 3
    finally:
        await index.close()
