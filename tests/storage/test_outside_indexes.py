"""The vector indexes in another engine than the record store, end to end: Qdrant on its local
mode, Milvus on Milvus Lite, PostgreSQL (pgvector) on a real server. The Qdrant and Milvus
servers cannot run here: their server URLs are tested up to the client (unreachable). The
conformance suite runs the role's test bodies on all three too (see conftest)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory
from memoryd.config import Settings, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import (
    BackendUnavailableError,
    ConfigError,
    ConflictError,
    EmbedderMismatchError,
    StorageError,
)
from memoryd.maintenance.check import check_store
from memoryd.maintenance.reindex import reindex_store
from memoryd.models import Scope
from memoryd.storage import ChangeSet, build_storage
from memoryd.storage.outside import point_id
from tests.storage.conftest import DIM, MODEL
from tests.storage.helpers import adds, record, unit
from tests.storage.postgres_server import postgres_url, table_for


@dataclass(frozen=True)
class Kind:
    name: str  # storage.vectors, and the settings section
    server: str  # the section's server setting
    scheme: str  # of a server's URL
    local: str | None  # what local mode keeps beside the SQLite file (None: a server only)
    tenant_collection: str  # the collection (table) of tenant "acme"

    def section(self, tmp: Path, **given: Any) -> dict[str, Any]:
        if self.local is not None:
            return given
        return {"url": postgres_url(), "table": table_for(tmp), **given}

    def settings(self, tmp: Path, **given: Any) -> Settings:
        section = self.section(tmp, **given)
        overrides = {"storage": {"path": str(tmp / "m.db"), "vectors": self.name, self.name: section}}
        return load_settings(env={}, overrides=overrides)

    @property
    def down_field(self) -> str:
        """The setting a failing engine's error names."""
        return f"storage.{self.name}.path" if self.local is not None else f"storage.{self.name}.{self.server}"


KINDS = {
    "qdrant": Kind("qdrant", "url", "http", "m.db.qdrant", "memoryd-acme"),
    "milvus": Kind("milvus", "uri", "http", "m.db.milvus.db", "memoryd_t_acme"),
    "postgres": Kind("postgres", "url", "postgresql", None, "memoryd_vectors_t_acme"),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_memories_are_found_and_kept_across_restarts(
    kind: Kind, tmp_path: Path, embedder: USEEmbedder
) -> None:
    settings = kind.settings(tmp_path)
    async with AsyncMemory(settings, embedder=embedder) as mem:
        added = await mem.add(
            ["I adopted a greyhound named Biscuit", "My sister lives in Lisbon"], user_id="ana"
        )
        await mem.add("I play the cello on Sundays", user_id="ben")
        hits = await mem.search("what is my dog called", user_id="ana", limit=1)
        assert hits[0].memory.text == "I adopted a greyhound named Biscuit"
    if kind.local is not None:
        assert (tmp_path / kind.local).exists()  # local mode's files, beside the SQLite file
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


async def test_a_failing_write_leaves_the_records_untouched(kind: Kind, tmp_path: Path) -> None:
    storage = build_storage(kind.settings(tmp_path))
    await storage.open(MODEL, DIM)
    try:
        kept = record("kept")
        await storage.commit(adds((kept, unit(1))))
        await storage.vectors.drop()  # type: ignore[attr-defined]  # the engine loses the collection
        lost = record("lost")
        with pytest.raises(StorageError) as err:
            await storage.commit(adds((lost, unit(0, 1))))
        assert err.value.status_code == 503 and err.value.field == kind.down_field
        assert set(await storage.records.get_many([kept.id, lost.id])) == {kept.id}
        assert await storage.keywords.search(["lost"], scope=Scope("u1"), limit=5) == []
    finally:
        await storage.close()


async def test_an_unreachable_server_is_a_503_naming_the_setting(kind: Kind, tmp_path: Path) -> None:
    url = f"{kind.scheme}://127.0.0.1:{free_port()}/memoryd"
    storage = build_storage(kind.settings(tmp_path, **{kind.server: url, "timeout": 2}))
    with pytest.raises(BackendUnavailableError) as err:
        await storage.open(MODEL, DIM)
    await storage.close()
    assert err.value.status_code == 503
    assert err.value.field == f"storage.{kind.name}.{kind.server}" and url in err.value.message


async def test_another_model_and_a_wiped_collection_are_refused(kind: Kind, tmp_path: Path) -> None:
    settings = kind.settings(tmp_path)
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
    await storage.vectors.drop()  # type: ignore[attr-defined]
    await storage.close()
    storage = build_storage(settings)
    with pytest.raises(StorageError) as wiped:  # never made again, empty, under memories it lost
        await storage.open(MODEL, DIM)
    await storage.close()
    assert wiped.value.details.get("repair") == "memoryd reindex"


async def test_health_reports_a_lost_collection_and_reindex_rebuilds_it(
    kind: Kind, tmp_path: Path, embedder: USEEmbedder
) -> None:
    settings = kind.settings(tmp_path)
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add(["We moved to Oslo in March", "I teach chemistry"], user_id="ana")
        assert (await mem.health())["status"] == "ok"
        await mem.storage.vectors.drop()  # type: ignore[attr-defined]  # lost while the server runs
        report = await mem.health()
        assert report["status"] == "unavailable"
        assert "memoryd reindex" in report["checks"]["storage"]["error"]
    summary = await reindex_store(settings, embedder=embedder)
    assert summary.memories == 2
    async with AsyncMemory(settings, embedder=embedder) as mem:
        hits = await mem.search("which subject do I teach", user_id="ana", limit=1)
        assert hits[0].memory.text == "I teach chemistry"
    assert (await check_store(settings, embedder=embedder)).ok


async def test_each_tenant_gets_its_own_collection(kind: Kind, tmp_path: Path, embedder: USEEmbedder) -> None:
    shared = {
        "qdrant": {"path": str(tmp_path / "shared-qdrant")},
        "milvus": {"path": str(tmp_path / "shared.db")},
    }
    base = kind.settings(
        tmp_path, **shared.get(kind.name, {"table": "memoryd_vectors"})
    )  # one engine for both
    acme = base.for_tenant("acme")
    section = getattr(acme.storage, kind.name)
    assert getattr(section, "table", getattr(section, "collection", None)) == kind.tenant_collection
    async with AsyncMemory(acme, embedder=embedder) as mem:
        await mem.add("Acme's launch is on Friday", user_id="u")
    async with AsyncMemory(base, embedder=embedder) as mem:  # the default tenant, same engine
        assert await mem.search("launch", user_id="u") == []


async def test_ids_that_are_not_uuids_get_points_of_their_own(kind: Kind, tmp_path: Path) -> None:
    assert point_id("0196f6a4-7f7e-7a1c-8b5e-2f3a4b5c6d7e") == "0196f6a4-7f7e-7a1c-8b5e-2f3a4b5c6d7e"
    assert point_id("mem0-import-17") != point_id("mem0-import-18")
    assert point_id("00000000-0000-0000-0000-000000000000") != "00000000-0000-0000-0000-000000000000"
    storage = build_storage(kind.settings(tmp_path))
    await storage.open(MODEL, DIM)
    try:
        a = record("imported a").with_changes(id="legacy-b")
        b = record("imported b", user_id='o"brien\\').with_changes(id="legacy-a")
        await storage.commit(adds((a, unit(1)), (b, unit(0, 1))))
        assert [e.memory_id for e in await storage.vectors.entries()] == ["legacy-a", "legacy-b"]
        assert [h[0] for h in await storage.vectors.search(unit(1), scope=Scope("u1"), limit=5)] == [
            "legacy-b"
        ]
        quoted = await storage.vectors.search(unit(1), scope=Scope('o"brien\\'), limit=5)  # quotes stay data
        assert [h[0] for h in quoted] == ["legacy-a"]
        assert set(await storage.vectors.vectors(["legacy-a", "legacy-b"])) == {"legacy-a", "legacy-b"}
        await storage.commit(ChangeSet(deletes=["legacy-b"]))
        assert [e.memory_id for e in await storage.vectors.entries()] == ["legacy-a"]
    finally:
        await storage.close()


async def test_local_mode_is_one_process_at_a_time(kind: Kind, tmp_path: Path) -> None:
    if kind.local is None:
        pytest.skip(f"{kind.name} is a server: many processes share it")
    settings = kind.settings(tmp_path)
    # Another process holds local mode's files (a `memoryd serve`), while this one opens the store.
    local = tmp_path / str(kind.local)
    holder = {
        "qdrant": f"from qdrant_client import QdrantClient; c = QdrantClient(path={str(local)!r})",
        "milvus": f"from pymilvus import MilvusClient; c = MilvusClient({str(local)!r})",
    }[kind.name]
    other = subprocess.Popen(
        [sys.executable, "-c", f"{holder}; print('open', flush=True); import time; time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "open"
        second = build_storage(settings)
        try:
            with pytest.raises(StorageError) as err:
                await second.open(MODEL, DIM)
        finally:
            await second.close()
        assert err.value.field == f"storage.{kind.name}.path"
        assert "one process at a time" in err.value.message
    finally:
        other.kill()
        other.communicate()


def test_a_new_process_finds_what_another_one_stored(kind: Kind, tmp_path: Path) -> None:
    """Each CLI command is a process of its own: the collection is found, loaded and searched
    (Milvus answers a new process nothing about a collection it has not loaded)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"),
        "MEMORYD_STORAGE__VECTORS": kind.name,
    }
    for key, value in kind.section(tmp_path).items():
        env[f"MEMORYD_STORAGE__{kind.name.upper()}__{key.upper()}"] = str(value)

    def memoryd(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "memoryd", *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr, done.stderr  # failures are reported, not logged twice
        return done.stdout

    memoryd("add", "I keep bees in the garden", "-u", "ana")
    memoryd("add", "My brother Tom lives in Lyon", "-u", "ana")
    found = json.loads(memoryd("search", "where does my brother live", "-u", "ana", "--json"))
    assert [h["text"] for h in found["results"]][:1] == ["My brother Tom lives in Lyon"]
    assert "ok:" in memoryd("check")


def test_postgres_without_a_url_is_a_configuration_error_naming_it(tmp_path: Path) -> None:
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "m.db"), "vectors": "postgres"}})
    with pytest.raises(ConfigError) as err:
        build_storage(settings)
    assert err.value.field == "storage.postgres.url" and "postgresql://" in err.value.message


def test_postgres_config_show_masks_the_password() -> None:
    settings = load_settings(env={"MEMORYD_STORAGE__POSTGRES__URL": "postgresql://ana:s3cret@db:5432/mem"})
    shown = settings.redacted()["storage"]["postgres"]["url"]
    assert shown == "postgresql://ana:***@db:5432/mem"


async def test_two_stores_on_one_collection_are_refused_and_reindex_never_wipes_the_other(
    kind: Kind, tmp_path: Path, embedder: USEEmbedder
) -> None:
    """Two memoryd stores (two SQLite files) given the same collection or table: the second is
    refused, by its open and by its reindex, before it can mix or drop the first one's vectors."""
    shared = {"qdrant": {"path": str(tmp_path / "q")}, "milvus": {"path": str(tmp_path / "mv.db")}}
    section = shared.get(kind.name, {"table": table_for(tmp_path)})
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    one = kind.settings(first, **kind.section(tmp_path, **section))
    two = kind.settings(second, **kind.section(tmp_path, **section))
    async with AsyncMemory(one, embedder=embedder) as mem:
        await mem.add("The spare key is under the blue pot", user_id="ana")
    setting = f"storage.{kind.name}.{'table' if kind.local is None else 'collection'}"
    with pytest.raises(ConflictError) as refused:
        async with AsyncMemory(two, embedder=embedder):
            pass
    assert refused.value.field == setting and "another memoryd store" in refused.value.message
    with pytest.raises(ConflictError):
        await reindex_store(two, embedder=embedder)
    async with AsyncMemory(one, embedder=embedder) as mem:  # the first store's vectors are intact
        hits = await mem.search("where is the spare key", user_id="ana", limit=1)
        assert hits[0].memory.text == "The spare key is under the blue pot"
