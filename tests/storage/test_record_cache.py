"""Reads served from the record cache are never stale: own writes, other writers, mutation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from memoryd.storage import ChangeSet, Storage
from tests.storage.conftest import DIM, MODEL
from tests.storage.helpers import adds, record, stored, unit


async def test_own_updates_and_deletes_are_seen(store: Storage) -> None:
    m = record("first text", metadata={"tags": ["a"]})
    await store.commit(adds((m, unit(1))))
    assert (await store.records.get_many([m.id]))[m.id].text == "first text"
    assert (await store.records.get_many([m.id]))[m.id].text == "first text"  # now cached
    changed = m.with_changes(text="second text")
    await store.commit(ChangeSet(upserts=[stored(changed, unit(1))]))
    assert (await store.records.get_many([m.id]))[m.id].text == "second text"
    await store.commit(ChangeSet(deletes=[m.id]))
    assert await store.records.get_many([m.id]) == {}


async def test_results_are_copies(store: Storage) -> None:
    m = record("with metadata", metadata={"tags": ["a"]})
    await store.commit(adds((m, unit(1))))
    first = (await store.records.get_many([m.id]))[m.id]
    first.metadata["tags"].append("mutated")
    again = (await store.records.get_many([m.id]))[m.id]
    assert again.metadata == {"tags": ["a"]}


async def test_another_writer_is_seen(backend: Callable[[Path], Storage], tmp_path: Path) -> None:
    # Two stores on one file stand for two processes (a server and the CLI).
    one, two = backend(tmp_path), backend(tmp_path)
    await one.open(MODEL, DIM)
    await two.open(MODEL, DIM)
    try:
        m = record("before")
        await one.commit(adds((m, unit(1))))
        assert (await one.records.get_many([m.id]))[m.id].text == "before"
        await two.commit(ChangeSet(upserts=[stored(m.with_changes(text="after"), unit(1))]))
        assert (await one.records.get_many([m.id]))[m.id].text == "after"
        await two.commit(ChangeSet(deletes=[m.id]))
        assert await one.records.get_many([m.id]) == {}
    finally:
        await one.close()
        await two.close()
