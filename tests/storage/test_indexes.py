"""Vector and keyword index conformance: ranking, scope isolation, validity, persistence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from memoryd.errors import EmbedderMismatchError
from memoryd.models import Scope
from memoryd.storage import ChangeSet, Storage, StoredMemory
from memoryd.text import tokenize
from tests.storage.helpers import DIM, MODEL, T0, adds, record, unit


async def test_vectors_rank_by_cosine_within_scope(store: Storage) -> None:
    near, mid, far = record("near"), record("mid"), record("far")
    other = record("other user", user_id="u2")
    await store.commit(adds((near, unit(1, 0.1)), (mid, unit(1, 1)), (far, unit(0, 1)), (other, unit(1))))
    hits = await store.vectors.search(unit(1), scope=Scope("u1"), limit=10)
    assert [h[0] for h in hits] == [near.id, mid.id, far.id]
    assert hits[0][1] == pytest.approx(float(unit(1, 0.1) @ unit(1)), abs=1e-5)
    assert [h[0] for h in await store.vectors.search(unit(1), scope=Scope("u1"), limit=2)] == [
        near.id,
        mid.id,
    ]
    assert [h[0] for h in await store.vectors.search(unit(1), scope=Scope("u2"), limit=10)] == [other.id]


async def test_vectors_also_score_the_ids_asked_for_in_the_same_pass(store: Storage) -> None:
    near, mid, far = record("near"), record("mid"), record("far")
    old = record("superseded", valid_to=T0 + timedelta(days=1))
    other = record("other user", user_id="u2")
    await store.commit(
        adds((near, unit(1, 0.1)), (mid, unit(1, 1)), (far, unit(0, 1)), (old, unit(1)), (other, unit(1)))
    )
    ask = [far.id, near.id, old.id, other.id, "no-such-id"]
    hits = await store.vectors.search(unit(1), scope=Scope("u1"), limit=1, also=ask)
    # the best one, then the asked-for ids a plain search could return and the best did not hold
    assert [h[0] for h in hits] == [near.id, far.id]
    assert hits[1][1] == pytest.approx(float(unit(0, 1) @ unit(1)), abs=1e-5)
    allowed = {mid.id, far.id, old.id}
    hits = await store.vectors.search(unit(1), scope=Scope("u1"), limit=1, allowed=allowed, also=ask)
    assert [h[0] for h in hits] == [old.id, far.id]  # within allowed, current or not
    assert await store.vectors.search(unit(1), scope=Scope("u1"), limit=3, also=[]) == await store.vectors.search(
        unit(1), scope=Scope("u1"), limit=3
    )


async def test_scope_combinations_are_exact(store: Storage) -> None:
    a = record("alpha", user_id="u1", agent_id="x", run_id="r1")
    b = record("bravo", user_id="u1", agent_id="y", run_id="r1")
    c = record("charlie", user_id="u2", agent_id="x", run_id="r2")
    await store.commit(adds((a, unit(1)), (b, unit(1, 0.5)), (c, unit(1, 0.2))))

    async def ids(scope: Scope) -> set[str]:
        vec = {h[0] for h in await store.vectors.search(unit(1), scope=scope, limit=10)}
        kw = {h[0] for h in await store.keywords.search(tokenize("alpha bravo charlie"), scope=scope, limit=10)}
        assert vec == kw
        return vec

    assert await ids(Scope("u1")) == {a.id, b.id}
    assert await ids(Scope(agent_id="x")) == {a.id, c.id}
    assert await ids(Scope("u1", "x")) == {a.id}
    assert await ids(Scope(run_id="r1")) == {a.id, b.id}
    assert await ids(Scope("u1", None, "r2")) == set()


async def test_superseded_memories_are_skipped_unless_allowed(store: Storage) -> None:
    old = record("paris apartment", valid_to=T0 + timedelta(days=3))
    new = record("rome apartment", days=3)
    await store.commit(adds((old, unit(1)), (new, unit(0, 1))))
    assert [h[0] for h in await store.vectors.search(unit(1), scope=Scope("u1"), limit=5)] == [new.id]
    assert [h[0] for h in await store.keywords.search(tokenize("apartment"), scope=Scope("u1"), limit=5)] == [new.id]
    allowed = {old.id}
    assert [
        h[0] for h in await store.vectors.search(unit(1), scope=Scope("u1"), limit=5, allowed=allowed)
    ] == [old.id]
    assert [
        h[0] for h in await store.keywords.search(tokenize("apartment"), scope=Scope("u1"), limit=5, allowed=allowed)
    ] == [old.id]
    assert await store.vectors.search(unit(1), scope=Scope("u1"), limit=5, allowed=set()) == []


async def test_closing_validity_without_new_vector_or_terms(store: Storage) -> None:
    m = record("coffee every morning")
    await store.commit(adds((m, unit(1))))
    assert await store.vectors.search(unit(1), scope=Scope("u1"), limit=5)  # partition now loaded
    closed = m.with_changes(valid_to=T0 + timedelta(days=1))
    await store.commit(ChangeSet(upserts=[StoredMemory(closed)]))
    assert await store.vectors.search(unit(1), scope=Scope("u1"), limit=5) == []
    assert await store.keywords.search(tokenize("coffee"), scope=Scope("u1"), limit=5) == []
    assert [
        h[0] for h in await store.keywords.search(tokenize("coffee"), scope=Scope("u1"), limit=5, allowed={m.id})
    ] == [m.id]


async def test_bm25_prefers_rarer_and_repeated_terms(store: Storage) -> None:
    docs = [
        record("the weather is nice today"),
        record("my dog Rex loves the park"),
        record("Rex the dog, Rex again"),
        record("nothing relevant here"),
    ]
    await store.commit(adds(*[(d, unit(1)) for d in docs]))
    hits = await store.keywords.search(tokenize("where is rex the dog"), scope=Scope("u1"), limit=10)
    assert [h[0] for h in hits] == [docs[2].id, docs[1].id]
    assert hits[0][1] > hits[1][1] > 0


async def test_chinese_text_is_found_by_keyword(store: Storage) -> None:
    doc = record("我昨天在北京吃了烤鸭")
    await store.commit(adds((doc, unit(1)), (record("今天天气很好"), unit(1))))
    hits = await store.keywords.search(tokenize("北京烤鸭"), scope=Scope("u1"), limit=5)
    assert hits and hits[0][0] == doc.id


async def test_updates_and_deletes_reach_loaded_partitions(store: Storage) -> None:
    a, b = record("alpha"), record("beta")
    await store.commit(adds((a, unit(1)), (b, unit(0, 1))))
    assert (await store.vectors.search(unit(1), scope=Scope("u1"), limit=1))[0][0] == a.id
    await store.commit(ChangeSet(upserts=[StoredMemory(b, unit(1, 0.01), ["beta"])]))
    await store.commit(ChangeSet(deletes=[a.id]))
    assert [h[0] for h in await store.vectors.search(unit(1), scope=Scope("u1"), limit=5)] == [b.id]
    assert await store.keywords.search(tokenize("alpha"), scope=Scope("u1"), limit=5) == []


async def test_index_persists_and_refuses_another_model(
    backend: Callable[[Path], Storage], tmp_path: Path
) -> None:
    first = backend(tmp_path)
    await first.open(MODEL, DIM)
    m = record("persisted")
    await first.commit(adds((m, unit(1))))
    await first.close()
    again = backend(tmp_path)
    await again.open(MODEL, DIM)
    assert [h[0] for h in await again.vectors.search(unit(1), scope=Scope("u1"), limit=3)] == [m.id]
    await again.close()
    other = backend(tmp_path)
    with pytest.raises(EmbedderMismatchError, match=MODEL):
        await other.open("another-model", DIM * 2)
    await other.close()


async def test_many_vectors_exact_top_k(store: Storage) -> None:
    rng = np.random.default_rng(7)
    vecs = rng.normal(size=(500, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    docs = [record(f"doc {i}") for i in range(500)]
    await store.commit(adds(*zip(docs, vecs, strict=True)))
    q = vecs[42] + 0.05
    q /= np.linalg.norm(q)
    hits = await store.vectors.search(q, scope=Scope("u1"), limit=10)
    want = np.argsort(-(vecs @ q))[:10]
    assert [h[0] for h in hits] == [docs[i].id for i in want]
