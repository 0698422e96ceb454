"""A store's clients of other engines stay closed once it closes: a write staged in the record
store's transaction (written just before SQLite commits, on the event loop) that starts only after
the store closed opens no client again. An interrupted ``memoryd import`` did that: its commit was
cancelled while the index write waited for its turn, the store closed its clients, and the write
then ran, opened a new Qdrant client nobody closed (holding the local-mode folder locked, so the
import's clean-up was refused and the store kept) and wrote a vector the records never got."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory, Settings, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import StorageError
from memoryd.storage import ChangeSet, build_storage
from tests.storage.helpers import DIM, MODEL, adds, record, unit

ENGINES = ["qdrant", "milvus", "postgres"]


def _settings(tmp: Path, engine: str) -> Settings:
    storage: dict[str, Any] = {"path": str(tmp / "a.db"), "vectors": engine}
    if engine == "postgres":
        from tests.storage.postgres_server import postgres_url, table_for

        storage["postgres"] = {"url": postgres_url(), "table": table_for(tmp)}
    elif engine == "milvus":
        pytest.importorskip("milvus_lite")
    return load_settings(env={}, overrides={"storage": storage})


async def _counts(settings: Settings, model: str, dim: int) -> tuple[int, int]:
    """How many memories the records and the vector index hold, asked by a store of its own (which
    Qdrant's local mode refuses while another client holds the folder)."""
    storage = build_storage(settings)
    try:
        await storage.open(model, dim)
        return len(await storage.records.entries(limit=100)), len(await storage.vectors.entries(limit=100))
    finally:
        await storage.close()


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_commit_cancelled_while_its_index_write_waits_leaves_no_client_and_no_vector(
    tmp_path: Path, embedder: USEEmbedder, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, engine)
    mem = AsyncMemory(settings, embedder=embedder)
    await mem.open()
    kept = len(await mem.add("I like tea", user_id="u", mode="fast"))
    vectors = mem.storage.vectors
    reached, go = threading.Event(), threading.Event()
    write = vectors.apply

    def held(changes: ChangeSet) -> Any:  # the writer thread asks for the index write: held there
        reached.set()
        go.wait(30)
        return write(changes)

    monkeypatch.setattr(vectors, "apply", held)

    async def interrupted() -> None:  # what `memoryd import` runs: a write, then close, however it ends
        try:
            await mem.add("I like coffee", user_id="u", mode="fast")
        finally:
            await mem.close()

    task = asyncio.create_task(interrupted())
    while not reached.is_set():
        await asyncio.sleep(0.001)
    # Ctrl-C just as the index write is handed to the event loop: the loop is busy meanwhile, so
    # the write is queued before the cancellation, and runs after the store closed.
    go.set()
    time.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.5)  # the late write has run (and failed)

    # the folder is free (another store opens it), and the index holds what the records hold
    assert await _counts(settings, embedder.name, embedder.dim) == (kept, kept)


async def _closed_index(settings: Settings) -> Any:
    storage = build_storage(settings)
    await storage.open(MODEL, DIM)
    await storage.close()
    return storage.vectors


def _upsert() -> ChangeSet:
    return adds((record("late"), unit(1.0)))


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_closed_index_refuses_a_write_instead_of_connecting_again(tmp_path: Path, engine: str) -> None:
    settings = _settings(tmp_path, engine)
    index = await _closed_index(settings)
    with pytest.raises(StorageError, match="closed"):
        await index.apply(_upsert())
    assert await _counts(settings, MODEL, DIM) == (0, 0)
    await index.open(MODEL, DIM, store=index.store)  # opened again, it works again
    try:
        await index.apply(_upsert())
    finally:
        await index.close()
    assert (await _counts(settings, MODEL, DIM))[1] == 1


async def test_a_closed_falkordb_graph_refuses_a_query_instead_of_connecting_again(tmp_path: Path) -> None:
    pytest.importorskip("falkordb")
    from memoryd.storage.falkordb.client import GraphClient
    from tests.storage.falkordb_server import falkordb_url, graph_for

    settings = load_settings(env={}, overrides={"storage": {
        "path": str(tmp_path / "a.db"), "graph": "falkordb",
        "falkordb": {"url": falkordb_url(), "graph": graph_for(tmp_path)}}})  # fmt: skip
    storage = build_storage(settings)
    await storage.open(MODEL, DIM)
    await storage.close()
    client: GraphClient = storage.graph.client  # type: ignore[attr-defined]
    with pytest.raises(StorageError, match="closed"):
        await client.query("writing", "CREATE (:Late {n: 1})", write=True)
    again = build_storage(settings)  # the query wrote nothing
    await again.open(MODEL, DIM)
    try:
        late = await again.graph.client.query("reading", "MATCH (n:Late) RETURN count(n)")  # type: ignore[attr-defined]
    finally:
        await again.close()
    assert late == [[0]]
