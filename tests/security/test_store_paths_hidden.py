"""A store's 503 named the server's database file (``/srv/.../tenants/acme/memoryd.db``) to any API
key, user keys included, while ``/health`` keeps paths for admin keys; and its repair command
(``memoryd reindex``) named no ``--tenant`` for a tenant's store. Now a caller that is no admin
reads "the store" ("tenant acme's store") where the path was, over REST, JSON-RPC and MCP tool
errors alike; admin keys and the server log keep the path; a tenant's repair names ``--tenant``."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import Running, make_settings, running_server
from tests.auth.conftest import bearer, new_key

MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}
SEARCH = {"query": "tea", "user_id": "ana"}


@pytest.fixture
def keyed(tmp_path: Path) -> tuple[Settings, dict[str, str]]:
    settings = make_settings(tmp_path / "data" / "memoryd.db")
    keys = {
        "admin": new_key(settings, "admin"),
        "user": new_key(settings, "user", user_id="ana"),
        "acme_user": new_key(settings, "user", tenant="acme", user_id="ana"),
        "zeta_service": new_key(settings, "service", tenant="zeta"),
    }
    return settings, keys


@pytest.fixture
def served(keyed: tuple[Settings, dict[str, str]], embedder: USEEmbedder) -> Iterator[Running]:
    with running_server(keyed[0], embedder) as running:
        yield running


def _call(client: httpx.Client, key: str, tool: str, arguments: dict[str, Any], **headers: str) -> Any:
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    answer = client.post("/mcp", json=message, headers={**bearer(key), **MCP_ACCEPT, **headers})
    return answer.json()


def test_a_tenant_store_that_cannot_open_is_not_named_by_path_to_its_keys(
    keyed: tuple[Settings, dict[str, str]], served: Running
) -> None:
    settings, keys = keyed
    zeta = settings.for_tenant("zeta").storage.path
    zeta.parent.mkdir(parents=True)
    zeta.write_bytes(b"not a database " * 400)
    data = str(settings.storage.path.parent)
    with httpx.Client(base_url=served.url, timeout=30) as client:
        refused = client.post("/v1/memories/search", json=SEARCH, headers=bearer(keys["zeta_service"]))
        assert refused.status_code == 503, refused.text
        assert data not in refused.text and "memoryd.db" not in refused.text, refused.text
        assert "cannot open tenant zeta's store" in refused.json()["error"]["message"]
        rpc = client.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                  "params": {"name": "search_memories", "arguments": SEARCH}},
            headers={**bearer(keys["zeta_service"]), **MCP_ACCEPT},
        )  # fmt: skip
        assert rpc.status_code == 503 and data not in rpc.text, rpc.text
        as_admin = {**bearer(keys["admin"]), "X-Memoryd-Tenant": "zeta"}
        admin = client.post("/v1/memories/search", json=SEARCH, headers=as_admin)
        assert admin.status_code == 503 and str(zeta) in admin.json()["error"]["message"], admin.text


def test_a_deleted_store_file_is_said_without_its_path_to_a_user_key_and_with_it_to_admins(
    keyed: tuple[Settings, dict[str, str]], served: Running, caplog: pytest.LogCaptureFixture
) -> None:
    settings, keys = keyed
    path = settings.storage.path
    with httpx.Client(base_url=served.url, timeout=30) as client:
        added = client.post(
            "/v1/memories", json={"messages": "I like tea", "user_id": "ana"}, headers=bearer(keys["user"])
        )
        assert added.status_code == 200, added.text
        for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            file.unlink(missing_ok=True)
        with caplog.at_level(logging.WARNING, logger="memoryd.server"):
            body = {"messages": "I like coffee", "user_id": "ana"}
            refused = client.post("/v1/memories", json=body, headers=bearer(keys["user"]))
        assert refused.status_code == 503, refused.text
        message = refused.json()["error"]["message"]
        assert str(path.parent) not in refused.text and "the store's file was deleted" in message, message
        assert any(str(path) in record.getMessage() for record in caplog.records)
        tool = _call(client, keys["user"], "add_memory", body)
        text = tool["result"]["content"][0]["text"]
        assert tool["result"]["isError"] is True and "the store's file was deleted" in text, tool
        assert str(path.parent) not in text, text
        admin = client.post("/v1/memories", json=body, headers=bearer(keys["admin"]))
        assert admin.status_code == 503 and str(path) in admin.json()["error"]["message"], admin.text


def test_a_tenant_store_s_repair_names_the_tenant_over_rest_and_mcp(
    keyed: tuple[Settings, dict[str, str]], served: Running
) -> None:
    settings, keys = keyed
    acme = settings.for_tenant("acme").storage.path
    with httpx.Client(base_url=served.url, timeout=30) as client:
        body = {"messages": "I like green tea", "user_id": "ana"}
        assert client.post("/v1/memories", json=body, headers=bearer(keys["acme_user"])).status_code == 200
        with sqlite3.connect(acme) as conn:
            conn.execute("DROP TABLE vectors")
        conn.close()
        refused = client.post("/v1/memories/search", json=SEARCH, headers=bearer(keys["acme_user"]))
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert error["details"]["repair"] == "memoryd reindex --tenant acme", error
        assert "`memoryd reindex --tenant acme`" in error["message"], error
        tool = _call(client, keys["acme_user"], "search_memories", SEARCH)
        assert tool["result"]["isError"] is True
        assert "memoryd reindex --tenant acme" in tool["result"]["content"][0]["text"], tool
