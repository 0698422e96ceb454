"""A change of a memory that keeps its text (its metadata edited, its validity closed or opened
again, its scope moved) reaches every vector index as a relabel of the vector it has: the memory
is found, under its scope, exactly while it is current. Qdrant's local mode drops a payload key
set to null, and a relabelled point left its "current" filter: an edit of a memory's metadata hid
it from every search."""

from __future__ import annotations

from pathlib import Path

from memoryd import AsyncMemory
from memoryd.config import load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.models import Scope
from memoryd.storage import ChangeSet, Storage, StoredMemory
from tests.storage.helpers import T0, adds, record, unit


def _ids(hits: list[tuple[str, float]]) -> list[str]:
    return [mid for mid, _ in hits]


async def test_a_relabelled_memory_is_found_while_it_is_current(store: Storage) -> None:
    edited, moved, ended = record("kept"), record("moved"), record("ended", valid_to=T0)
    await store.commit(adds((edited, unit(1)), (moved, unit(1, 0.5)), (ended, unit(1, 1))))

    async def relabel(*memories: object) -> None:
        upserts = [StoredMemory(m, None, None, existing=True) for m in memories]  # type: ignore[arg-type]
        await store.commit(ChangeSet(upserts=upserts))

    await relabel(edited.with_changes(metadata={"pet": "dog"}), moved.with_changes(user_id="u2"))
    assert _ids(await store.vectors.search(unit(1), scope=Scope("u1"), limit=5)) == [edited.id]
    assert _ids(await store.vectors.search(unit(1), scope=Scope("u2"), limit=5)) == [moved.id]
    await relabel(ended.with_changes(valid_to=None))  # current again
    assert _ids(await store.vectors.search(unit(1), scope=Scope("u1"), limit=5)) == [edited.id, ended.id]
    await relabel(edited.with_changes(valid_to=T0))  # no longer current: found only when asked by id
    assert _ids(await store.vectors.search(unit(1), scope=Scope("u1"), limit=5)) == [ended.id]
    assert _ids(await store.vectors.search(unit(1), scope=Scope("u1"), limit=5, allowed={edited.id})) == [
        edited.id
    ]


async def test_a_memory_whose_metadata_is_edited_is_still_found_with_qdrant(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    overrides = {"storage": {"path": str(tmp_path / "m.db"), "vectors": "qdrant"}}
    async with AsyncMemory(load_settings(env={}, overrides=overrides), embedder=embedder) as mem:
        [added] = await mem.add("I adopted a greyhound named Biscuit", user_id="ana")
        await mem.update(added.id, metadata={"pet": "dog"})
        hits = await mem.search("what is my dog called", user_id="ana")
        assert [(h.memory.id, h.memory.metadata) for h in hits] == [(added.id, {"pet": "dog"})]
