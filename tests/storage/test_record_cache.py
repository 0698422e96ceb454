"""Reads served from the record cache are never stale: own writes, other writers, mutation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from memoryd.models import Scope
from memoryd.storage import ChangeSet, Storage
from tests.storage.conftest import ONE_PROCESS
from tests.storage.helpers import DIM, MODEL, adds, record, stored, unit


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


async def test_another_writer_is_seen(
    backend: Callable[[Path], Storage], backend_name: str, tmp_path: Path
) -> None:
    # Two stores on one file stand for two processes (a server and the CLI).
    if backend_name in ONE_PROCESS:
        pytest.skip(f"{backend_name} lets one process at a time open its store (tested in tests/storage/test_outside_indexes.py)")
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


def test_a_read_begun_before_another_process_wrote_is_not_kept() -> None:
    """Reader A takes the version and reads the old rows; another process's commit is caught up
    with before A stores: what A read is not kept in either cache. A commit touching other
    memories (or, unlisted, another user) drops nothing of this one's."""
    from memoryd.storage.sqlite.changes import Foreign, key
    from memoryd.storage.sqlite.record_cache import RecordCache
    from memoryd.storage.sqlite.selects import SelectCache

    def touched(*scopes: str, ids: frozenset[str] | None = None) -> Foreign:
        return Foreign(frozenset(scopes), ids)

    old = record("before")  # user u1
    records = RecordCache(100)
    _, missing, version = records.lookup([old.id])  # reader A
    assert missing == [old.id]
    records.foreign(touched(key("user_id", "u1"), ids=frozenset({old.id})))  # reader B catches up first
    records.store({old.id: old}, version)  # A's rows, read before that commit
    assert records.lookup([old.id])[1] == [old.id]  # not served
    records.store({old.id: old}, records.lookup([old.id])[2])
    records.foreign(touched(key("user_id", "u1"), ids=frozenset({"another memory"})))
    records.foreign(touched(key("user_id", "someone else")))
    assert records.lookup([old.id])[1] == []  # kept
    records.foreign(touched(key("run_id", "r9"), key("user_id", old.user_id)))  # unlisted: by its user
    assert records.lookup([old.id])[1] == [old.id]
    records.store({old.id: old}, records.lookup([old.id])[2])
    records.foreign(touched(key("user_id", "u1"), ids=frozenset({old.id})))
    assert records.lookup([old.id])[1] == [old.id]

    selects = SelectCache()
    scope = Scope("u1")
    asked = SelectCache.key(scope, None, False, 500)
    kept, version = selects.lookup(asked)
    assert kept is None
    selects.foreign(touched(key("user_id", "u1")))
    selects.store(asked, scope, None, False, [old.id], version)
    assert selects.lookup(asked)[0] is None
    kept, version = selects.lookup(asked)  # a read at the current version is kept
    selects.store(asked, scope, None, False, [old.id], version)
    assert selects.lookup(asked)[0] == [old.id]
    selects.foreign(touched(key("user_id", "u2")))
    assert selects.lookup(asked)[0] == [old.id]
    selects.foreign(None)  # anything may have changed
    assert selects.lookup(asked)[0] is None
