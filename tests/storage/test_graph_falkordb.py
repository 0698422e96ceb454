"""What only the FalkorDB graph store has, against real FalkorDB servers (the conformance suite runs
every graph test body on it too, see conftest): a server that is down or refuses, a graph another
store owns, reopening and restarting, the crash window between FalkorDB and SQLite's commit, and
a random history of writes that must leave the same graph as the embedded store."""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from memoryd.config import Settings, load_settings
from memoryd.errors import ConflictError, InvalidInputError, MissingExtraError, StorageError
from memoryd.graph import RelationClose, RelationDraft
from memoryd.maintenance.check import check_store
from memoryd.models import MemoryRecord, Scope
from memoryd.storage import ChangeSet, Storage, StoredMemory, build_storage
from tests.storage.falkordb_server import FalkorDBServer, falkordb_url, free_port, graph_for
from tests.storage.helpers import DIM, MODEL, T0, opened, record, stored, unit

pytest.importorskip("falkordb", reason="the falkordb client is not installed (pip install 'memoryd[falkordb]')")

U1 = Scope("u1")


def settings(tmp: Path, name: str = "m.db", **section: Any) -> Settings:
    falkordb = {"url": falkordb_url(), "graph": graph_for(tmp), **section}
    overrides = {"storage": {"path": str(tmp / name), "graph": "falkordb", "falkordb": falkordb}}
    return load_settings(env={}, overrides=overrides)


def draft(memory: MemoryRecord, source: str, relation: str, target: str, **extra: Any) -> RelationDraft:
    return RelationDraft(
        source=source, relation=relation, target=target, memory_id=memory.id, scope=memory.scope,
        valid_from=memory.valid_from, **extra,
    )  # fmt: skip


async def remember(store: Storage, text: str, *triples: tuple[str, str, str], days: float = 0) -> MemoryRecord:
    m = record(text, days=days)
    await store.commit(ChangeSet(upserts=[stored(m, unit(1))], graph_add=[draft(m, *t) for t in triples]))
    return m


async def graph_of(store: Storage) -> list[tuple[str, str, str, bool]]:
    return sorted(
        (r.source.name, r.relation, r.target.name, r.is_current)
        for r in await store.graph.relations(U1, limit=1000, include_expired=True)
    )


async def test_an_unreachable_server_is_a_503_naming_the_setting(tmp_path: Path) -> None:
    closed = f"redis://127.0.0.1:{free_port()}"
    with pytest.raises(StorageError) as err:
        async with opened(settings(tmp_path, url=closed)):
            pass
    assert err.value.status_code == 503 and err.value.field == "storage.falkordb.url"
    assert closed in err.value.message


async def test_check_names_a_graph_server_that_does_not_answer(tmp_path: Path) -> None:
    from memoryd.maintenance import check_store

    closed = f"redis://127.0.0.1:{free_port()}"
    report = await check_store(settings(tmp_path, url=closed))
    [problem] = report.problems  # not "memories, history and search are unaffected": all are 503s
    assert problem.role == "graph" and closed.removeprefix("redis://") in problem.fix
    assert problem.fix.startswith("start the falkordb server at ") and "storage.falkordb.url" in problem.fix


async def test_a_server_stopped_under_a_store_fails_reads_and_writes_and_a_restart_loses_nothing(
    tmp_path: Path,
) -> None:
    """A server of its own (append-only file, fsync always), stopped under a running store: every
    read and write is a 503 naming the setting, never an empty answer, and SQLite keeps nothing of
    the failed writes; started again on its folder, the store finds all it had and writes again."""
    server = FalkorDBServer(tmp_path / "falkordb", persist=True).start()
    try:
        async with opened(settings(tmp_path, url=server.url)) as store:
            kept = await remember(store, "Alice works at Acme", ("Alice", "works_at", "Acme"))
            server.stop()
            lost = record("Alice likes tea", days=1)
            with pytest.raises(StorageError) as err:
                await store.commit(
                    ChangeSet(upserts=[stored(lost, unit(1))], graph_add=[draft(lost, "Alice", "likes", "tea")])
                )
            assert err.value.status_code == 503 and err.value.field == "storage.falkordb.url"
            assert await store.records.get_many([lost.id]) == {}
            for read in (
                store.graph.entities(U1),
                store.graph.relations(U1),
                store.graph.neighbours(U1, ["Alice"]),
                store.graph.scan_relations(U1),
            ):
                with pytest.raises(StorageError) as err:
                    await read
                assert err.value.field == "storage.falkordb.url"
            server.start()  # same folder, same port
            assert await graph_of(store) == [("Alice", "works_at", "Acme", True)]
            await remember(store, "Alice likes tea", ("Alice", "likes", "tea"), days=1)
        async with opened(settings(tmp_path, url=server.url)) as again:  # reopened: a new client
            assert await graph_of(again) == [("Alice", "likes", "tea", True), ("Alice", "works_at", "Acme", True)]
            [rel] = [r for r in await again.graph.relations(U1) if r.relation == "works_at"]
            assert rel.memory_ids == (kept.id,)
            assert await again.graph.check() == []
    finally:
        server.stop()


async def test_a_graph_another_store_owns_is_refused_and_so_is_a_key_memoryd_did_not_write(
    tmp_path: Path,
) -> None:
    async with opened(settings(tmp_path, "a.db")) as first:
        await remember(first, "Alice works at Acme", ("Alice", "works_at", "Acme"))
        with pytest.raises(ConflictError) as err:  # another store (its own SQLite file), same graph
            async with opened(settings(tmp_path, "b.db")):
                pass
        assert err.value.field == "storage.falkordb.graph" and "another memoryd store" in err.value.message
        assert await graph_of(first) == [("Alice", "works_at", "Acme", True)]  # untouched
    client = redis.Redis.from_url(falkordb_url())
    try:
        taken = graph_for(tmp_path / "other")
        client.set(taken, "someone's value")
        foreign = graph_for(tmp_path / "foreign")
        client.execute_command("GRAPH.QUERY", foreign, "CREATE (:Person {name: 'Bob'})")
        for name in (taken, foreign):
            with pytest.raises(ConflictError) as err:
                async with opened(settings(tmp_path, "c.db", graph=name)):
                    pass
            assert err.value.field == "storage.falkordb.graph"
        assert client.get(taken) == b"someone's value"  # never adopted or wiped
        assert client.execute_command("GRAPH.QUERY", foreign, "MATCH (p:Person) RETURN p.name")[1] == [[b"Bob"]]
    finally:
        client.close()


async def test_a_graph_wiped_under_a_store_is_refused_at_open_not_recreated_empty(tmp_path: Path) -> None:
    # A fresh open made a new, empty graph in its place: every read then answered nothing.
    config = settings(tmp_path)
    async with opened(config) as store:
        await remember(store, "Alice works at Acme", ("Alice", "works_at", "Acme"))
    client = redis.Redis.from_url(falkordb_url())
    try:
        client.execute_command("GRAPH.DELETE", config.storage.falkordb.graph)  # a wipe, a lost volume
    finally:
        client.close()
    with pytest.raises(StorageError) as err:
        async with opened(config):
            pass
    assert err.value.field == "storage.falkordb.graph" and "is gone" in err.value.message
    assert "storage.falkordb.recreate" in err.value.message
    renamed = settings(tmp_path, graph=graph_for(tmp_path / "renamed"))  # the setting names another
    with pytest.raises(StorageError, match="this store's graph is"):
        async with opened(renamed):
            pass
    async with opened(settings(tmp_path, recreate=True)) as store:  # the operator's choice, once
        assert await graph_of(store) == []
        await remember(store, "Alice works at Initech", ("Alice", "works_at", "Initech"))
    async with opened(config) as store:  # the new graph is this store's now
        assert await graph_of(store) == [("Alice", "works_at", "Initech", True)]


async def test_a_write_falkordb_refuses_leaves_no_sqlite_rows(tmp_path: Path) -> None:
    """FalkorDB out of memory (maxmemory) refuses writes and still answers reads: the write reads
    the graph, plans it, has its one write refused, and the records roll back with it."""
    server = FalkorDBServer(tmp_path / "falkordb").start()
    client = redis.Redis(port=server.port)
    try:
        async with opened(settings(tmp_path, url=server.url)) as store:
            await remember(store, "Alice works at Acme", ("Alice", "works_at", "Acme"))
            client.config_set("maxmemory", 1)
            m = record("Alice likes tea", days=1)
            with pytest.raises(StorageError) as err:
                await store.commit(
                    ChangeSet(upserts=[stored(m, unit(1))], graph_add=[draft(m, "Alice", "likes", "tea")])
                )
            assert err.value.status_code == 503 and "writing the graph" in err.value.message
            assert await store.records.get_many([m.id]) == {}
            assert await store.keywords.search(["tea"], scope=U1, limit=5) == []
            client.config_set("maxmemory", 0)
            assert await graph_of(store) == [("Alice", "works_at", "Acme", True)]
            await remember(store, "Alice likes tea", ("Alice", "likes", "tea"), days=1)
            assert len(await graph_of(store)) == 2
    finally:
        client.close()
        server.stop()


async def test_with_qdrant_too_a_graph_that_is_down_fails_the_write_before_the_vectors_change(
    tmp_path: Path,
) -> None:
    """Vectors in Qdrant (local mode) and the graph in FalkorDB, both written after SQLite's part:
    a FalkorDB that is down fails a delete, a supersede and a reset with a 503 and leaves Qdrant as
    the records are, so dense search still finds every current memory."""
    pytest.importorskip("qdrant_client", reason="pip install 'memoryd[qdrant]'")
    server = FalkorDBServer(tmp_path / "falkordb", persist=True).start()
    try:
        config = load_settings(env={}, overrides={"storage": {
            "path": str(tmp_path / "m.db"), "vectors": "qdrant", "graph": "falkordb",
            "falkordb": {"url": server.url, "graph": graph_for(tmp_path)},
        }})  # fmt: skip
        async with opened(config) as store:
            a = await remember(store, "Alice works at Acme", ("Alice", "works_at", "Acme"))
            b = record("Bob likes tea", days=1)
            await store.commit(ChangeSet(upserts=[stored(b, unit(0, 1))]))
            server.stop()
            ended = a.with_changes(valid_to=T0 + timedelta(days=2))
            for write in (
                store.commit(ChangeSet(deletes=[a.id])),
                store.commit(
                    ChangeSet(upserts=[StoredMemory(ended, None, [], existing=True)], graph_close_memories=[a.id])
                ),
                store.reset(),
            ):
                with pytest.raises(StorageError) as err:
                    await write
                assert err.value.status_code == 503 and err.value.field == "storage.falkordb.url"
            found = {i for i, _ in await store.vectors.search(unit(1), scope=U1, limit=5)}
            assert found == {a.id, b.id}  # neither deleted, ended nor wiped in Qdrant
            assert (await store.records.get_many([a.id]))[a.id].is_current
            server.start()
            await store.commit(ChangeSet(deletes=[a.id]))  # and with the graph back, all of it goes
            found = {i for i, _ in await store.vectors.search(unit(1), scope=U1, limit=5)}
            assert found == {b.id} and await graph_of(store) == []
    finally:
        server.stop()


@dataclass(frozen=True)
class _Model:  # what check_store asks of an embedder without loading one: its name and size
    name: str = MODEL
    dim: int = DIM


async def test_check_finds_the_relations_of_a_write_whose_records_never_committed(tmp_path: Path) -> None:
    """The crash window, made on purpose: a step after the graph's fails the SQLite commit once
    FalkorDB has applied the write, as a process killed between the two would."""
    config = settings(tmp_path)
    async with opened(config) as store:
        kept = await remember(store, "Alice works at Acme", ("Alice", "works_at", "Acme"))
        lost = record("Alice likes tea; Alice works at Acme", days=1)

        async def crash() -> None:
            raise RuntimeError("killed before SQLite's COMMIT")

        with pytest.raises(RuntimeError):
            async with store.records.transaction():
                await store.records.apply(ChangeSet(upserts=[stored(lost, unit(1))]))
                await store.graph.apply(
                    ChangeSet(graph_add=[draft(lost, "Alice", "likes", "tea"), draft(lost, "Alice", "works_at", "Acme")])
                )
                store.records.before_commit(crash)  # after the graph's step
        assert await store.records.get_many([lost.id]) == {}
        assert await graph_of(store) == [("Alice", "likes", "tea", True), ("Alice", "works_at", "Acme", True)]
        [problem] = await store.graph.check()
        # Only the relation no landed memory asserts: Acme is asserted by `kept` too.
        assert problem.startswith("1 graph relations asserted only by memories the record store does not hold")
        [tea] = [r for r in await store.graph.relations(U1) if r.relation == "likes"]
        assert tea.id in problem and kept.id not in problem
    report = await check_store(config, embedder=_Model())  # type: ignore[arg-type]
    graph = [p.message for p in report.problems if p.role == "graph"]
    assert any("asserted only by memories the record store does not hold" in m for m in graph), graph
    assert any(lost.id in m for m in graph), graph  # and the memory id itself, from memory_refs
    assert not [p for p in report.problems if p.role != "graph"], report.problems


async def test_text_falkordb_cannot_hold_is_a_bad_request_and_reads_of_it_find_nothing(tmp_path: Path) -> None:
    """FalkorDB's strings end at NUL: a relation holding one is a 422 before anything is written;
    a name holding one matches nothing (an empty answer, not a 503). No scope id holds one (a 422
    before any store)."""
    async with opened(settings(tmp_path)) as store:
        m = record("Alice likes tea")
        with pytest.raises(InvalidInputError) as err:
            await store.commit(ChangeSet(upserts=[stored(m, unit(1))], graph_add=[draft(m, "Ali\x00ce", "likes", "tea")]))
        assert err.value.status_code == 422 and err.value.field == "graph_add"
        assert await store.records.get_many([m.id]) == {}
        await remember(store, "Alice likes tea", ("Alice", "likes", "tea"))
        assert await store.graph.neighbours(U1, ["Ali\x00ce"]) == []
        await store.commit(ChangeSet(deletes=["no\x00such"]))  # nothing of it in the graph
        assert len(await graph_of(store)) == 1


def test_settings_mask_the_password_and_give_each_tenant_its_own_graph() -> None:
    config = load_settings(env={"MEMORYD_STORAGE__GRAPH": "falkordb",
                                "MEMORYD_STORAGE__FALKORDB__URL": "redis://:s3cret@falkordb:6379"})  # fmt: skip
    assert config.redacted()["storage"]["falkordb"]["url"] == "redis://:***@falkordb:6379"
    assert config.for_tenant("acme").storage.falkordb.graph == "memoryd-acme"
    assert config.storage.falkordb.url.get_secret_value() == "redis://:s3cret@falkordb:6379"


def test_a_missing_extra_fails_naming_the_pip_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n == "falkordb" or n.startswith("falkordb.")]:
        monkeypatch.setitem(sys.modules, name, None)  # importing it now raises ImportError
    monkeypatch.setitem(sys.modules, "falkordb", None)
    for name in [n for n in sys.modules if n.startswith("memoryd.storage.falkordb.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(MissingExtraError, match=r"pip install 'memoryd\[falkordb\]'"):
        build_storage(settings(tmp_path))


# -- the same graph as the embedded store, after a random history ---------------------------------
_NAMES = ["Alice", "alice", "Bob", "Robert", "Bobby", "Acme", "ACME Corp", "Paris", "tea", "Tea!", "Rex",
          "the Louvre", "Louvre", *(f"Thing {i}" for i in range(20))]  # fmt: skip
_RELATIONS = ["likes", "works_at", "Works At", "knows", "lives_in"]


def _step(
    rng: random.Random, live: list[MemoryRecord], day: int, ended: list[MemoryRecord]
) -> tuple[ChangeSet, MemoryRecord | None]:
    """One random write: new memories asserting relations (sometimes with aliases and types), a
    memory superseded (its relations may close), one superseded current again (or ending later),
    a close, or a hard delete."""
    kind = rng.random()
    if kind < 0.2 and live:
        gone = live.pop(rng.randrange(len(live)))
        return ChangeSet(deletes=[gone.id]), None
    if kind < 0.3 and live:
        old = live.pop(rng.randrange(len(live)))
        ended.append(old.with_changes(valid_to=T0 + timedelta(days=day)))
        return ChangeSet(upserts=[StoredMemory(ended[-1])], graph_close_memories=[old.id]), None
    if kind < 0.42 and ended:
        back = ended.pop(rng.randrange(len(ended)))
        back = back.with_changes(valid_to=rng.choice([None, T0 + timedelta(days=day)]))
        (live if back.valid_to is None else ended).append(back)
        return ChangeSet(upserts=[StoredMemory(back)], graph_reopen_memories=[back.id]), None
    if kind < 0.5:
        close = RelationClose(scope=U1, source=rng.choice(_NAMES), relation=rng.choice(_RELATIONS),
                              target=rng.choice([None, *_NAMES]), valid_to=T0 + timedelta(days=day), reason="moved")  # fmt: skip
        return ChangeSet(graph_close=[close]), None
    m = record(f"fact {day}", days=day)
    drafts = []
    for _ in range(rng.randint(1, 3)):
        extra: dict[str, Any] = {}
        source, target = rng.choice(_NAMES[:13]), rng.choice(_NAMES)
        if rng.random() < 0.3:
            extra["aliases"] = {source: rng.sample(_NAMES, 2)}
        if rng.random() < 0.3:
            extra["target_type"] = rng.choice(["person", "org", "Drink"])
        drafts.append(draft(m, source, rng.choice(_RELATIONS), target, **extra))
    return ChangeSet(upserts=[stored(m, unit(1))], graph_add=drafts), m


async def _pages(scan: Any, scope: Scope) -> list[Any]:
    """Every row a scan lists, three at a time."""
    out, cursor = [], None
    while True:
        page, cursor = await scan(scope, after=cursor, limit=3)
        out += page
        if cursor is None:
            return out


async def _view(store: Storage) -> dict[str, Any]:
    """The graph as names, relations, validity and sources (ids differ between stores)."""
    rels = await store.graph.relations(U1, limit=1000, include_expired=True)
    entities = await store.graph.entities(U1, limit=1000)
    around = {}
    for name in ("alice", "bob", "acme"):
        for hops, limit in ((1, 50), (2, 50), (2, 3)):
            found = await store.graph.neighbours(U1, [name, "tea"], hops=hops, limit=limit, include_expired=True)
            around[(name, hops, limit)] = [(r.source.name, r.relation, r.target.name, r.valid_to) for r in found]
    rows, _ = await store.graph.scan_relations(U1, limit=1000)
    return {
        "relations": [(r.source.name, r.relation, r.target.name, r.memory_id, r.memory_ids, r.valid_from,
                       r.valid_to, r.reason) for r in rels],  # fmt: skip
        "entities": [(e.name, e.normal, e.type, sorted(e.aliases)) for e in entities],
        "around": around,
        "mentions": [[(m.memory_id, m.valid_to) for m in r.mentions] for r in rows],
        "refs": await store.graph.memory_refs(),
        "entity rows": [
            [(e.owner, e.name, e.normal, e.type, e.names) for e in await _pages(store.graph.scan_entities, s)]
            for s in (Scope(), U1)
        ],
        "relation rows": [
            [(r.relation, r.memory_id, r.valid_from, r.valid_to, r.reason, r.mentions)
             for r in await _pages(store.graph.scan_relations, s)]
            for s in (Scope(), U1)
        ],  # fmt: skip
    }


async def test_a_random_history_leaves_the_same_graph_as_the_embedded_store(tmp_path: Path) -> None:
    """...and the rows the embedded store lists, written into an empty FalkorDB graph (an import),
    read back the same too."""
    embedded = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "sqlite.db")}})
    imported = settings(tmp_path / "imported", "falkor.db")
    async with opened(embedded) as reference, opened(settings(tmp_path, "falkor.db")) as store:
        for seed in (1, 2):
            rng = random.Random(seed)
            live: list[MemoryRecord] = []
            ended: list[MemoryRecord] = []
            for day in range(45):
                changes, added = _step(rng, live, day + 100 * seed, ended)
                want = await reference.commit(changes)
                got = await store.commit(changes)
                assert sorted(map(sorted, map(dict.items, got.added))) == sorted(map(sorted, map(dict.items, want.added)))
                assert sorted(map(sorted, map(dict.items, got.closed))) == sorted(map(sorted, map(dict.items, want.closed)))
                if added is not None:
                    live.append(added)
            assert await _view(store) == await _view(reference), seed
            assert await store.graph.check() == await reference.graph.check() == []
            entities = await _pages(reference.graph.scan_entities, Scope())
            relations = await _pages(reference.graph.scan_relations, Scope())
            async with opened(imported) as copy:
                await copy.graph.restore(entities, [])
                await copy.graph.restore([], relations)
                assert await _view(copy) == await _view(reference), seed
                for scope in (Scope(), U1):  # ids and times too: the rows as they were
                    assert await _pages(copy.graph.scan_entities, scope) == await _pages(reference.graph.scan_entities, scope)
                    assert await _pages(copy.graph.scan_relations, scope) == await _pages(reference.graph.scan_relations, scope)
                with pytest.raises(StorageError):  # an id (and name) taken: nothing written
                    await copy.graph.restore(entities[:1], [])
                assert len(await _pages(copy.graph.scan_entities, Scope())) == len(entities)
                await copy.reset()
            await reference.reset()
            await store.reset()


async def test_a_write_from_an_older_read_is_refused_even_when_the_other_write_only_ended_memories(
    tmp_path: Path,
) -> None:
    # Two SQLite files of one store (a copied or restored file) on one graph: B ends a memory after
    # A read the graph; only writes that created rows moved the guard's counter, so A's stale write
    # landed and closed the relation B had kept asserted by A's new memory.
    import shutil

    a_path = settings(tmp_path, "a.db")
    async with opened(a_path) as first:
        m1 = await remember(first, "Alice likes tea", ("Alice", "likes", "tea"))
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    async with opened(a_path) as a, opened(settings(tmp_path, "b.db")) as b:
        real = a.graph.client.query  # type: ignore[attr-defined]
        fired: list[bool] = []

        async def racing(doing: str, cypher: str, params: Any = None, *, write: bool = False) -> Any:
            rows = await real(doing, cypher, params, write=write)
            if doing == "reading the graph" and not fired:  # A has read; B writes now
                fired.append(True)
                ended = m1.with_changes(valid_to=T0 + timedelta(days=1))
                await b.commit(ChangeSet(upserts=[StoredMemory(ended)], graph_close_memories=[m1.id]))
            return rows

        a.graph.client.query = racing  # type: ignore[attr-defined]
        m3 = record("Alice still likes tea", days=2)
        with pytest.raises(StorageError, match="changed while"):
            await a.commit(ChangeSet(upserts=[stored(m3, unit(1))], graph_add=[draft(m3, "Alice", "likes", "tea")]))
        assert await a.records.get_many([m3.id]) == {}  # rolled back with it: retried, it plans anew


class _DropProxy:
    """A loopback TCP proxy to a server that, once armed, passes on the next request holding
    ``marker`` and cuts the connection before its answer comes back (the write landed, its answer
    was lost)."""

    def __init__(self, target: int, marker: bytes = b"SET meta.seq = $next") -> None:
        import asyncio
        import threading

        self.target, self.marker, self.armed = target, marker, False
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
            started.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        started.wait(5)

    async def _handle(self, client_r: Any, client_w: Any) -> None:
        import asyncio

        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target)
        cut = asyncio.Event()

        async def up() -> None:
            while data := await client_r.read(65536):
                server_w.write(data)
                await server_w.drain()
                if self.armed and self.marker in data:
                    self.armed = False
                    cut.set()
                    await asyncio.sleep(0.3)  # the server applies it meanwhile
                    return

        async def down() -> None:
            while data := await server_r.read(65536):
                await asyncio.sleep(0)
                if cut.is_set():
                    return
                client_w.write(data)
                await client_w.drain()

        try:
            await asyncio.wait([asyncio.ensure_future(up()), asyncio.ensure_future(down())], return_when="FIRST_COMPLETED")
        finally:
            for w in (client_w, server_w):
                w.close()


async def test_a_write_whose_answer_was_lost_after_it_landed_is_a_success_not_a_503(tmp_path: Path) -> None:
    # The driver sent it again on a new connection; the guard refused the resend, and the store
    # said "not applied": SQLite rolled back what the graph kept.
    proxy = _DropProxy(int(falkordb_url().rsplit(":", 1)[1]))
    async with opened(settings(tmp_path, url=f"redis://127.0.0.1:{proxy.port}", timeout=2)) as store:
        await remember(store, "Alice works at Acme", ("Alice", "works_at", "Acme"))
        proxy.armed = True
        m2 = await remember(store, "Alice likes tea", ("Alice", "likes", "tea"), days=1)
        assert not proxy.armed  # the answer of that write was indeed cut
        assert m2.id in await store.records.get_many([m2.id])
        assert ("Alice", "likes", "tea", True) in await graph_of(store)
        assert await store.graph.check() == []


def test_a_password_with_url_characters_never_shows(tmp_path: Path) -> None:
    from memoryd.storage.falkordb.client import GraphClient

    config = settings(tmp_path, url="redis://:Sup3r/Secret@127.0.0.1:6379")
    shown = json_of(config.redacted()) + GraphClient(config.storage.falkordb).what
    assert "Sup3r" not in shown and "Secret" not in shown
    client = GraphClient(config.storage.falkordb)
    with pytest.raises(Exception) as err:
        client._graph()  # redis-py reads "Sup3r" as a port
    assert "Sup3r" not in str(err.value) and "Secret" not in str(err.value)


def json_of(value: Any) -> str:
    import json

    return json.dumps(value, default=str)


async def test_health_says_unavailable_while_falkordb_is_down(tmp_path: Path, embedder: Any) -> None:
    """/health/ready went on answering ready with the graph's server gone (graph searches 503)."""
    from memoryd import AsyncMemory

    server = FalkorDBServer(tmp_path / "falkordb", persist=True).start()
    try:
        async with AsyncMemory(settings(tmp_path, url=server.url), embedder=embedder) as mem:
            assert (await mem.health())["status"] == "ok"
            server.stop()
            down = await mem.health()
            assert down["status"] == "unavailable" and "FalkorDB" in down["checks"]["storage"]["error"]
            server.start()
            assert (await mem.health())["status"] == "ok"
    finally:
        server.stop()


async def test_a_server_with_no_graph_yet_answers_a_ping_and_keeps_nothing_made(tmp_path: Path) -> None:
    """`memoryd doctor` (and `memoryd check`) ask the server to answer before any store exists: on a
    fresh FalkorDB server that failed with "Invalid graph operation on empty key", as the ping queried
    the graph the first open makes. Once the store made it, a graph wiped under it still fails the ping
    (/health unavailable), naming the graph."""
    config = settings(tmp_path)
    name = config.storage.falkordb.graph
    client = redis.Redis.from_url(falkordb_url())
    storage = build_storage(config)
    try:
        await storage.graph.ping()  # no graph of that name on the server yet
        assert client.exists(name) == 0  # nothing made by asking
        await storage.open(MODEL, DIM)
        await storage.graph.ping()
        client.execute_command("GRAPH.DELETE", name)
        with pytest.raises(StorageError) as err:
            await storage.graph.ping()
        assert err.value.status_code == 503 and name in err.value.message
    finally:
        await storage.close()
        client.close()
