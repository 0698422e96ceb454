"""Two stores of one process on one Milvus Lite file (two AsyncMemory objects, a server's
tenants on one explicit path) share the Milvus Lite server pymilvus runs in this process: opened
at the same moment, both open, and each finds what the other wrote."""

from __future__ import annotations

import asyncio
from pathlib import Path

from memoryd.config import load_settings
from memoryd.models import Scope
from memoryd.storage import build_storage
from tests.storage.helpers import DIM, MODEL, adds, record, unit


async def test_two_stores_opened_at_once_on_one_milvus_lite_file_both_open(tmp_path: Path) -> None:
    overrides = {"storage": {"path": str(tmp_path / "m.db"), "vectors": "milvus"}}
    settings = load_settings(env={}, overrides=overrides)
    first, second = build_storage(settings), build_storage(settings)
    opened = await asyncio.gather(first.open(MODEL, DIM), second.open(MODEL, DIM), return_exceptions=True)
    try:
        assert opened == [None, None], (
            opened
        )  # both start (or join) the server and make (or find) the collection
        a, b = record("first"), record("second")
        await first.commit(adds((a, unit(1, 0))))
        await second.commit(adds((b, unit(0, 1))))
        for store in (first, second):
            found = await store.vectors.search(unit(1, 1), scope=Scope("u1"), limit=10)
            assert {mid for mid, _ in found} == {a.id, b.id}
    finally:
        await asyncio.gather(first.close(), second.close())
