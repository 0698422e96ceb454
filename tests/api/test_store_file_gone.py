"""Over HTTP, a write to a store whose file was deleted while open is a 503 (see
tests/storage/test_file_gone.py), and ``/health`` says the store is down."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.conftest import Running


def test_over_http_a_write_to_a_deleted_store_is_a_503(server: Running, client: httpx.Client) -> None:
    added = client.post("/v1/memories", json={"messages": "I like green tea", "user_id": "ana"})
    assert added.status_code == 200, added.text
    path = server.memory.settings.storage.path
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        file.unlink(missing_ok=True)
    refused = client.post("/v1/memories", json={"messages": "I like coffee", "user_id": "ana"})
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["field"] == "storage.path"
    assert client.get("/health").status_code == 503
