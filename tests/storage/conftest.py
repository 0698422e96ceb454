"""The storage conformance suite runs every test body against every backend here.

A backend joins by adding a factory to ``BACKENDS``: it takes a tmp dir and
returns a :class:`memoryd.storage.Storage` whose three roles are that backend
(or a skip reason when its engine cannot run on this machine).
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from memoryd.config import load_settings
from memoryd.storage import Storage, build_storage
from tests.storage.falkordb_server import falkordb_url, graph_for
from tests.storage.helpers import DIM, MODEL
from tests.storage.postgres_server import postgres_url, table_for


def _sqlite(tmp: Path) -> Storage:
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp / "conf.db")}})
    return build_storage(settings)


def _qdrant_local(tmp: Path) -> Storage:
    """Vectors in Qdrant's local mode (a folder), every other role in SQLite."""
    overrides = {
        "storage": {"path": str(tmp / "conf.db"), "vectors": "qdrant", "qdrant": {"path": str(tmp / "qd")}}
    }
    return build_storage(load_settings(env={}, overrides=overrides))


def _milvus_lite(tmp: Path) -> Storage:
    """Vectors in Milvus Lite (a file), every other role in SQLite."""
    overrides = {
        "storage": {"path": str(tmp / "conf.db"), "vectors": "milvus", "milvus": {"path": str(tmp / "mv.db")}}
    }
    return build_storage(load_settings(env={}, overrides=overrides))


def _postgres(tmp: Path) -> Storage:
    """Vectors in a real PostgreSQL server with pgvector, every other role in SQLite."""
    section = {"url": postgres_url(), "table": table_for(tmp)}
    overrides = {"storage": {"path": str(tmp / "conf.db"), "vectors": "postgres", "postgres": section}}
    return build_storage(load_settings(env={}, overrides=overrides))


def _falkordb_graph(tmp: Path) -> Storage:
    """The graph in a real FalkorDB server (a graph of its own per test), every other role in SQLite."""
    if importlib.util.find_spec("falkordb") is None:
        pytest.skip("the falkordb client is not installed (pip install 'memoryd[falkordb]')")
    section = {"url": falkordb_url(), "graph": graph_for(tmp)}
    overrides = {"storage": {"path": str(tmp / "conf.db"), "graph": "falkordb", "falkordb": section}}
    return build_storage(load_settings(env={}, overrides=overrides))


BACKENDS: dict[str, Callable[[Path], Storage]] = {
    "sqlite": _sqlite,
    "qdrant-local": _qdrant_local,
    "milvus-lite": _milvus_lite,
    "postgres": _postgres,
    "falkordb-graph": _falkordb_graph,
}


ONE_PROCESS = {"qdrant-local"}  # backends whose store one process at a time may open


@pytest.fixture(params=sorted(BACKENDS))
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(backend_name: str) -> Callable[[Path], Storage]:
    return BACKENDS[backend_name]


@pytest.fixture
async def store(backend: Callable[[Path], Storage], tmp_path: Path) -> AsyncIterator[Storage]:
    storage = backend(tmp_path)
    await storage.open(MODEL, DIM)
    try:
        yield storage
    finally:
        await storage.close()


@pytest.fixture(params=["sqlite", "falkordb-graph"])
async def graph_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """A store of each graph engine (SQLite's own graph, FalkorDB), opened."""
    storage = BACKENDS[request.param](tmp_path)
    await storage.open(MODEL, DIM)
    try:
        yield storage
    finally:
        await storage.close()
