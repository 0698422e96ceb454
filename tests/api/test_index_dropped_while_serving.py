"""The SQLite vector index's table dropped while the server runs (by hand, a partial restore): a
search answered 503 "SQLite error: no such table: vectors" and ``/health`` still said storage ok.
Now the search's 503 says what the store says opening such a file (and ``memoryd check``): the
vector index is missing, rebuild it with ``memoryd reindex``; ``/health`` says storage is down."""

from __future__ import annotations

import sqlite3

import httpx

from tests.api.conftest import Running


def _drop(server: Running, table: str) -> None:
    with sqlite3.connect(server.memory.settings.storage.path) as conn:
        conn.execute(f"DROP TABLE {table}")
    conn.close()


def test_a_search_after_the_vectors_table_is_dropped_names_the_reindex(
    server: Running, client: httpx.Client
) -> None:
    added = client.post("/v1/memories", json={"messages": "I like green tea", "user_id": "ana"})
    assert added.status_code == 200, added.text
    assert client.get("/health").json()["checks"]["storage"]["status"] == "ok"
    _drop(server, "vectors")
    refused = client.post("/v1/memories/search", json={"query": "tea", "user_id": "ana"})
    assert refused.status_code == 503, refused.text
    error = refused.json()["error"]
    assert "no such table" not in error["message"]
    assert "the vector index" in error["message"] and "is missing (its table is gone)" in error["message"]
    assert "`memoryd reindex`" in error["message"]
    assert error["field"] == "storage.vectors" and error["details"]["repair"] == "memoryd reindex"
    health = client.get("/health")
    assert health.status_code == 503, health.text
    storage = health.json()["checks"]["storage"]
    assert storage["status"] == "error" and "vector index" in storage["error"], storage


def test_a_search_after_the_keyword_tables_are_dropped_names_the_keywords_reindex(
    server: Running, client: httpx.Client
) -> None:
    added = client.post("/v1/memories", json={"messages": "I like green tea", "user_id": "ana"})
    assert added.status_code == 200, added.text
    _drop(server, "kw_docs")
    refused = client.post("/v1/memories/search", json={"query": "tea", "user_id": "ana"})
    assert refused.status_code == 503, refused.text
    error = refused.json()["error"]
    assert "no such table" not in error["message"], error
    assert error["details"]["repair"] == "memoryd reindex --keywords-only", error
