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
    for attempt in range(3):  # each time a new Milvus Lite server, started by both at once
        first, second = build_storage(settings), build_storage(settings)
        opened = await asyncio.gather(first.open(MODEL, DIM), second.open(MODEL, DIM), return_exceptions=True)
        try:
            assert opened == [None, None], opened
            a, b = record(f"first {attempt}"), record(f"second {attempt}")
            await first.commit(adds((a, unit(1, attempt))))
            await second.commit(adds((b, unit(attempt, 1))))
            for store in (first, second):
                found = await store.vectors.search(unit(1, 1), scope=Scope("u1"), limit=10)
                assert {a.id, b.id} <= {mid for mid, _ in found}
        finally:
            await asyncio.gather(first.close(), second.close())
