"""A change set lands in every role or in none."""

from __future__ import annotations

import pytest

from memoryd.errors import MemorydError
from memoryd.models import Scope
from memoryd.storage import ChangeSet, HistoryDraft, Storage, StoredMemory
from memoryd.text import tokenize
from tests.storage.helpers import record, unit


async def test_failed_change_set_leaves_no_trace(store: Storage) -> None:
    m = record("atomic write")
    bad = HistoryDraft(m.id, None, None, "x", "test", m.created_at)  # type: ignore[arg-type]
    with pytest.raises((MemorydError, AttributeError)):
        await store.commit(ChangeSet(upserts=[StoredMemory(m, unit(1), tokenize(m.text))], history=[bad]))
    assert await store.records.get_many([m.id]) == {}
    assert await store.vectors.search(unit(1), scope=Scope("u1"), limit=5) == []
    assert await store.keywords.search(["atomic"], scope=Scope("u1"), limit=5) == []
    ok = record("next write")
    await store.commit(ChangeSet(upserts=[StoredMemory(ok, unit(1), tokenize(ok.text))]))
    assert [h[0] for h in await store.vectors.search(unit(1), scope=Scope("u1"), limit=5)] == [ok.id]
