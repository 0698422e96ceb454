"""Equal cosines rank by memory id in every vector index, as in the SQLite one: memories with
the same text (one fact kept in several runs of a user) come back in one order whatever the
engine, whichever order they were written in, and a ``limit`` that cuts among them keeps the
same ones (Qdrant ranks equal cosines by point, Milvus by insertion, until asked for more)."""

from __future__ import annotations

import uuid

from memoryd.models import Scope
from memoryd.storage import Storage
from tests.storage.helpers import adds, record, unit


async def test_equal_cosines_rank_by_memory_id_whatever_the_engine(store: Storage) -> None:
    ids = sorted(str(uuid.uuid4()) for _ in range(12))
    written = [ids[i] for i in (5, 2, 11, 7, 0, 9, 3, 6, 10, 1, 4, 8)]
    for i, memory_id in enumerate(written):  # one write each: insertion order is not id order
        await store.commit(
            adds((record("I take the 8:15 train", run_id=f"r{i}").with_changes(id=memory_id), unit(1, 1)))
        )
    await store.commit(adds((record("I cycle to work"), unit(1, 0.2))))
    scope = Scope("u1")
    for limit in (1, 2, 3, 5, 12):
        hits = await store.vectors.search(unit(1, 1), scope=scope, limit=limit)
        assert [mid for mid, _ in hits] == ids[:limit], limit
    every = await store.vectors.search(unit(1, 1), scope=scope, limit=20)
    assert [mid for mid, _ in every][:12] == ids and len(every) == 13
    also = await store.vectors.search(unit(1, 1), scope=scope, limit=2, also={ids[9], ids[4]})
    assert [mid for mid, _ in also] == [ids[0], ids[1], ids[4], ids[9]]
    allowed = set(ids[3:9])
    only = await store.vectors.search(unit(1, 1), scope=scope, limit=3, allowed=allowed)
    assert [mid for mid, _ in only] == ids[3:6]
