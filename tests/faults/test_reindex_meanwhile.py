"""A `memoryd reindex` onto another model while a server has the store open: the server's next
write was stored with a vector of the old model among the new model's (the store then answered
"damaged" to every search of that user, under either model). It is now refused, nothing
written, naming the model the store was moved to, and so are its searches and its health."""

from __future__ import annotations

from pathlib import Path

import pytest

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import StorageError
from memoryd.maintenance.check import check_store
from memoryd.maintenance.health import store_health
from memoryd.maintenance.reindex import reindex_store
from tests.faults.embedders import HalfEmbedder


async def test_a_process_whose_store_was_moved_to_another_model_writes_nothing(
    tmp_path: Path, embedder: USEEmbedder, half: type[HalfEmbedder]
) -> None:
    base = {"path": str(tmp_path / "m.db"), "synchronous": "NORMAL"}
    use = load_settings(env={}, overrides={"storage": base})
    other = load_settings(env={}, overrides={"storage": base, "embedder": {"provider": "half"}})
    server = AsyncMemory(use, embedder=embedder)
    await server.open()
    try:
        await server.add("the blue notebook is on the shelf", user_id="ana")
        await reindex_store(other)  # run by someone else while the server runs

        moved = "was moved to embedder 'test:use-half' \\(256 dimensions\\)"
        with pytest.raises(StorageError, match=moved) as refused:
            await server.add("the red pen is in the drawer", user_id="ana")
        assert refused.value.status_code == 503 and refused.value.field == "embedder"
        with pytest.raises(StorageError, match=moved):
            await server.search("pen", user_id="ana")
        health = await store_health(server)
        assert health["status"] == "unavailable"
        assert "was moved to embedder" in health["checks"]["storage"]["error"]
    finally:
        await server.close()

    async with AsyncMemory(other) as moved_store:  # the store as moved: whole, and searchable
        assert [m.text for m in (await moved_store.get_all(user_id="ana")).items] == [
            "the blue notebook is on the shelf"
        ]
        hits = await moved_store.search("notebook", user_id="ana")
        assert hits[0].memory.text == "the blue notebook is on the shelf"
    report = await check_store(other)
    assert report.ok, report.problems
