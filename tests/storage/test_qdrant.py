"""The Qdrant vector index end to end, on Qdrant's local mode (its server cannot run here: a
server URL is tested up to the client, unreachable). The conformance suite runs its role's
test bodies on it too (``qdrant-local`` in conftest)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory
from memoryd.config import Settings, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import BackendUnavailableError, EmbedderMismatchError, StorageError
from memoryd.maintenance.check import check_store
from memoryd.maintenance.reindex import reindex_store
from memoryd.models import Scope
from memoryd.storage import ChangeSet, build_storage
from memoryd.storage.qdrant.vectors import point_id
from tests.storage.conftest import DIM, MODEL
from tests.storage.helpers import adds, record, unit


def qdrant_settings(tmp: Path, **qdrant: Any) -> Settings:
    overrides = {"storage": {"path": str(tmp / "m.db"), "vectors": "qdrant", "qdrant": qdrant}}
    return load_settings(env={}, overrides=overrides)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_memories_are_found_through_qdrant_and_kept_across_restarts(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    settings = qdrant_settings(tmp_path)
    async with AsyncMemory(settings, embedder=embedder) as mem:
        added = await mem.add(
            ["I adopted a greyhound named Biscuit", "My sister lives in Lisbon"], user_id="ana"
        )
        await mem.add("I play the cello on Sundays", user_id="ben")
        hits = await mem.search("what is my dog called", user_id="ana", limit=1)
        assert hits[0].memory.text == "I adopted a greyhound named Biscuit"
    assert (tmp_path / "m.db.qdrant").is_dir()  # local mode's folder, beside the SQLite file
    async with AsyncMemory(settings, embedder=embedder) as mem:
        hits = await mem.search("which city does my sister live in", user_id="ana", limit=5)
        assert hits[0].memory.text == "My sister lives in Lisbon"
        assert all(h.memory.user_id == "ana" for h in hits)  # ben's cello stays his
        await mem.delete(added[0].id)
        assert [h.memory.text for h in await mem.search("dog", user_id="ana")] == [
            "My sister lives in Lisbon"
        ]
    report = await check_store(settings, embedder=embedder)
    assert report.ok, report.to_dict()


async def test_a_failing_qdrant_write_leaves_the_records_untouched(tmp_path: Path) -> None:
    storage = build_storage(qdrant_settings(tmp_path))
    await storage.open(MODEL, DIM)
    try:
        kept = record("kept")
        await storage.commit(adds((kept, unit(1))))
        # The engine loses the collection under memoryd (an operator's mistake, a wiped volume).
        client = await storage.vectors._connect()  # type: ignore[attr-defined]
        await client.delete_collection("memoryd")
        lost = record("lost")
        with pytest.raises(StorageError) as err:
            await storage.commit(adds((lost, unit(0, 1))))
        assert err.value.status_code == 503 and err.value.field == "storage.qdrant.path"
        assert set(await storage.records.get_many([kept.id, lost.id])) == {kept.id}
        assert await storage.keywords.search(["lost"], scope=Scope("u1"), limit=5) == []
    finally:
        await storage.close()


async def test_an_unreachable_server_is_a_503_naming_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    storage = build_storage(qdrant_settings(tmp_path, url=url, timeout=2))
    with pytest.raises(BackendUnavailableError) as err:
        await storage.open(MODEL, DIM)
    await storage.close()
    assert err.value.status_code == 503
    assert err.value.field == "storage.qdrant.url" and url in err.value.message


async def test_another_model_and_a_wiped_collection_are_refused(tmp_path: Path) -> None:
    settings = qdrant_settings(tmp_path)
    storage = build_storage(settings)
    await storage.open(MODEL, DIM)
    await storage.commit(adds((record("x"), unit(1))))
    await storage.close()
    storage = build_storage(settings)
    with pytest.raises(EmbedderMismatchError) as mismatch:
        await storage.open("another-model", DIM)
    await storage.close()
    assert "memoryd reindex" in mismatch.value.message and "test-model" in mismatch.value.message
    storage = build_storage(settings)
    await storage.open(MODEL, DIM)
    client = await storage.vectors._connect()  # type: ignore[attr-defined]
    await client.delete_collection("memoryd")
    await storage.close()
    storage = build_storage(settings)
    with pytest.raises(StorageError) as wiped:  # never recreated empty under memories it lost
        await storage.open(MODEL, DIM)
    await storage.close()
    assert wiped.value.details.get("repair") == "memoryd reindex"


async def test_reindex_rebuilds_a_lost_collection(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = qdrant_settings(tmp_path)
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add(["We moved to Oslo in March", "I teach chemistry"], user_id="ana")
        assert (await mem.health())["status"] == "ok"
        client = await mem.storage.vectors._connect()  # type: ignore[attr-defined]
        await client.delete_collection("memoryd")  # lost while the server runs: /health says so
        report = await mem.health()
        assert report["status"] == "unavailable"
        assert "memoryd reindex" in report["checks"]["storage"]["error"]
    summary = await reindex_store(settings, embedder=embedder)
    assert summary.memories == 2
    async with AsyncMemory(settings, embedder=embedder) as mem:
        hits = await mem.search("which subject do I teach", user_id="ana", limit=1)
        assert hits[0].memory.text == "I teach chemistry"
    assert (await check_store(settings, embedder=embedder)).ok


async def test_each_tenant_gets_its_own_collection(tmp_path: Path, embedder: USEEmbedder) -> None:
    base = qdrant_settings(tmp_path, path=str(tmp_path / "shared-qdrant"))
    acme = base.for_tenant("acme")
    assert acme.storage.qdrant.collection == "memoryd-acme"
    async with AsyncMemory(acme, embedder=embedder) as mem:
        await mem.add("Acme's launch is on Friday", user_id="u")
    async with AsyncMemory(base, embedder=embedder) as mem:  # the same Qdrant, the default tenant
        assert await mem.search("launch", user_id="u") == []


async def test_ids_that_are_not_uuids_get_points_of_their_own(tmp_path: Path) -> None:
    assert point_id("0196f6a4-7f7e-7a1c-8b5e-2f3a4b5c6d7e") == "0196f6a4-7f7e-7a1c-8b5e-2f3a4b5c6d7e"
    assert point_id("mem0-import-17") != point_id("mem0-import-18")
    assert point_id("00000000-0000-0000-0000-000000000000") != "00000000-0000-0000-0000-000000000000"
    storage = build_storage(qdrant_settings(tmp_path))
    await storage.open(MODEL, DIM)
    try:
        a = record("imported a").with_changes(id="legacy-b")
        b = record("imported b").with_changes(id="legacy-a")
        await storage.commit(adds((a, unit(1)), (b, unit(0, 1))))
        assert [e.memory_id for e in await storage.vectors.entries()] == ["legacy-a", "legacy-b"]
        assert [h[0] for h in await storage.vectors.search(unit(1), scope=Scope("u1"), limit=1)] == [
            "legacy-b"
        ]
        assert set(await storage.vectors.vectors(["legacy-a", "legacy-b"])) == {"legacy-a", "legacy-b"}
        await storage.commit(ChangeSet(deletes=["legacy-b"]))
        assert [e.memory_id for e in await storage.vectors.entries()] == ["legacy-a"]
    finally:
        await storage.close()


async def test_local_mode_is_one_process_at_a_time(tmp_path: Path) -> None:
    settings = qdrant_settings(tmp_path)
    first = build_storage(settings)
    await first.open(MODEL, DIM)
    second = build_storage(settings)
    try:
        with pytest.raises(StorageError) as err:
            await second.open(MODEL, DIM)
        assert err.value.field == "storage.qdrant.path" and "one process at a time" in err.value.message
    finally:
        await second.close()
        await first.close()
