"""Authentication over real HTTP: when keys are required, key forms, revocation, roles, rate limits."""

from __future__ import annotations

import asyncio
import http.client as http_client
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import Running, error_of, make_settings, running_server
from tests.auth.conftest import bearer, new_key, with_auth

ADD = {"messages": "I live in Lisbon", "user_id": "alice"}


def test_loopback_without_keys_is_open_then_closes_once_a_key_exists(
    http: httpx.Client, auth_settings: Settings
) -> None:
    assert http.post("/v1/memories", json=ADD).status_code == 200
    key = new_key(auth_settings, "service")  # the CLI's store, while the server runs
    http.get("/health/live")  # probes never need a key
    error = error_of(http.get("/v1/memories", params={"user_id": "alice"}), 401)
    assert error["code"] == "unauthorized" and "memoryd keys create" in error["message"]
    r = http.get("/v1/memories", params={"user_id": "alice"}, headers=bearer(key))
    assert r.status_code == 200 and r.json()["total"] >= 1
    # mem0's "Token" form is accepted too
    r = http.get("/memories", params={"user_id": "alice"}, headers={"Authorization": f"Token {key}"})
    assert r.status_code == 200
    assert http.get("/health").status_code == 200 and http.get("/openapi.json").status_code == 200
    assert http.get("/docs").status_code == http.get("/docs/files/swagger-ui.css").status_code == 200
    # the open prefix reaches the docs' files only: a path that climbs out of it gets nothing
    port = httpx.URL(str(http.base_url)).port
    conn = http_client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/docs/files/../../v1/memories?user_id=alice")
    climbed = conn.getresponse()
    assert climbed.status == 404 and b"Lisbon" not in climbed.read()
    conn.close()


def test_wrong_malformed_and_revoked_keys_get_401(http: httpx.Client, auth_settings: Settings) -> None:
    admin = new_key(auth_settings, "admin")
    for header in ("Bearer nope", "Basic abc", "Bearer", f"Bearer {admin}x", f"Bearer {admin[:-1]}"):
        r = http.get("/v1/users", headers={"Authorization": header})
        error_of(r, 401)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert admin not in r.text
    made = http.post("/v1/admin/keys", json={"role": "service"}, headers=bearer(admin))
    assert made.status_code == 201, made.text
    service = made.json()["key"]
    assert http.get("/v1/users", headers=bearer(service)).status_code == 200
    listed = http.get("/v1/admin/keys", headers=bearer(admin)).json()["results"]
    assert {k["id"] for k in listed} >= {made.json()["id"]} and all("key" not in k for k in listed)
    assert http.delete(f"/v1/admin/keys/{made.json()['id']}", headers=bearer(admin)).status_code == 200
    error_of(http.get("/v1/users", headers=bearer(service)), 401)  # at once, on this server


def test_revoking_the_last_key_does_not_reopen_a_loopback_server(
    http: httpx.Client, auth_settings: Settings
) -> None:
    admin = new_key(auth_settings, "admin")
    listed = http.get("/v1/admin/keys", headers=bearer(admin)).json()["results"]
    assert [k["role"] for k in listed] == ["admin"]
    assert http.delete(f"/v1/admin/keys/{listed[0]['id']}", headers=bearer(admin)).status_code == 200
    for request in (("GET", "/v1/memories", {"params": {"user_id": "alice"}}), ("POST", "/v1/reset", {})):
        error_of(http.request(request[0], request[1], **request[2]), 401)  # type: ignore[arg-type]
    error_of(http.post("/v1/admin/keys", json={"role": "admin"}), 401)
    error_of(http.get("/v1/users", headers=bearer(admin)), 401)
    # The way back in: a new key from the CLI, which works on the key file.
    assert http.get("/v1/users", headers=bearer(new_key(auth_settings, "admin"))).status_code == 200


def test_health_figures_go_to_admin_keys_only_once_keys_are_required(
    http: httpx.Client, auth_settings: Settings
) -> None:
    open_report = http.get("/health").json()  # no key exists yet: open, the full report
    assert open_report["checks"]["storage"]["path"] == str(auth_settings.storage.path)
    admin = new_key(auth_settings, "admin")
    user = new_key(auth_settings, "user", user_id="alice")
    for headers in ({}, bearer(user), {"Authorization": "Bearer mdk_nope_nope"}):
        r = http.get("/health", headers=headers)
        assert r.status_code == 200, r.text  # a probe never needs a key
        report = r.json()
        assert report["status"] == "ok" and report["checks"]["storage"] == {"status": "ok"}
        assert str(auth_settings.storage.path) not in r.text and "memories" not in r.text
    full = http.get("/health", headers=bearer(admin)).json()
    assert full["checks"]["storage"]["path"] == str(auth_settings.storage.path)
    assert full["checks"]["embedder"]["dim"] == 512


def test_readiness_keeps_storage_errors_for_admin_keys(
    http: httpx.Client, auth_server: Running, auth_settings: Settings
) -> None:
    admin = new_key(auth_settings, "admin")
    asyncio.run(auth_server.memory.storage.close())  # the database goes away under the server
    anonymous = http.get("/health/ready")
    assert anonymous.status_code == 503 and anonymous.json()["reason"].startswith("storage unavailable")
    detailed = http.get("/health/ready", headers=bearer(admin)).json()["reason"]
    assert detailed != anonymous.json()["reason"] and "not open" in detailed


def test_roles_on_the_admin_api(http: httpx.Client, auth_settings: Settings) -> None:
    service = new_key(auth_settings, "service", tenant="acme")
    user = new_key(auth_settings, "user", tenant="acme", user_id="alice")
    other = new_key(auth_settings, "service", tenant="zeta")
    error_of(http.post("/v1/admin/keys", json={"role": "admin"}, headers=bearer(service)), 403)
    error_of(http.post("/v1/admin/keys", json={"role": "user", "user_id": "x", "tenant": "zeta"},
                       headers=bearer(service)), 403)  # fmt: skip
    error_of(http.get("/v1/admin/keys", headers=bearer(user)), 403)
    made = http.post("/v1/admin/keys", json={"role": "user", "user_id": "bob"}, headers=bearer(service))
    assert made.status_code == 201 and made.json()["tenant"] == "acme" and made.json()["user_id"] == "bob"
    seen = http.get("/v1/admin/keys", headers=bearer(service)).json()["results"]
    assert {k["user_id"] for k in seen} == {"alice", "bob"}  # its tenant's user keys only
    # another tenant's service cannot see or revoke acme's keys: 404, not 403
    error_of(http.delete(f"/v1/admin/keys/{made.json()['id']}", headers=bearer(other)), 404)
    error_of(http.post("/v1/admin/keys", json={"role": "user"}, headers=bearer(service)), 422)


def test_a_server_on_a_public_address_requires_keys_even_without_any(
    auth_settings: Settings, embedder: USEEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    public = auth_settings.model_copy(
        update={"server": auth_settings.server.model_copy(update={"host": "0.0.0.0"})}
    )
    with running_server(public, embedder) as running, httpx.Client(base_url=running.url) as c:
        error_of(c.get("/v1/users"), 401)
        assert c.get("/health/ready").status_code == 200
    assert "no API key exists: every request is refused" in caplog.text  # said at start-up


def test_always_required_and_rate_limited(auth_settings: Settings, embedder: USEEmbedder) -> None:
    settings = with_auth(auth_settings, required="always", rate_limit_per_s=0.5, rate_limit_burst=2)
    key = new_key(settings, "admin")
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url) as c:
        assert c.get("/v1/users", headers=bearer(key)).status_code == 200
        assert c.get("/v1/users", headers=bearer(key)).status_code == 200
        r = c.get("/v1/users", headers=bearer(key))
        error = error_of(r, 429)
        assert error["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1


def test_an_admin_works_in_any_tenant_others_only_in_theirs(
    auth_server: Running, http: httpx.Client, auth_settings: Settings
) -> None:
    admin = new_key(auth_settings, "admin")
    service = new_key(auth_settings, "service", tenant="acme")
    r = http.post("/v1/memories", json=ADD, headers={**bearer(admin), "X-Memoryd-Tenant": "acme"})
    assert r.status_code == 200
    r = http.get("/v1/memories", params={"user_id": "alice"}, headers=bearer(service))
    assert r.json()["total"] >= 1
    error_of(http.get("/v1/users", headers={**bearer(service), "X-Memoryd-Tenant": "default"}), 404)
    error_of(http.get("/v1/users", headers={**bearer(admin), "X-Memoryd-Tenant": "../x"}), 422)
    tenant_db = auth_settings.for_tenant("acme").storage.path
    assert tenant_db.exists() and tenant_db != auth_settings.storage.path


def test_a_read_in_a_tenant_without_a_store_is_a_404_and_leaves_none(
    auth_server: Running, http: httpx.Client, auth_settings: Settings
) -> None:
    """A mistyped tenant: reads (a listing, a search, a context, a delete) answered 200 and empty
    from a new store they made; only an add makes a tenant's store."""
    admin = new_key(auth_settings, "admin")
    typo = {**bearer(admin), "X-Memoryd-Tenant": "acmee"}
    for r in (
        http.get("/v1/memories", params={"user_id": "alice"}, headers=typo),
        http.post("/v1/memories/search", json={"query": "tea", "user_id": "alice"}, headers=typo),
        http.post("/search", json={"query": "tea", "user_id": "alice"}, headers=typo),
        http.post("/v1/context", json={"query": "tea", "user_id": "alice"}, headers=typo),
        http.delete("/v1/memories", params={"user_id": "alice"}, headers=typo),
    ):
        error = error_of(r, 404)
        assert error["field"] == "X-Memoryd-Tenant" and "acmee" in error["message"], error
    mcp = http.post("/mcp", json=_mcp_call(1, "search_memories", query="tea", user_id="alice"), headers=typo)
    assert mcp.status_code == 404 and mcp.json()["id"] == 1, mcp.text  # a JSON-RPC error there
    refused = mcp.json()["error"]
    assert refused["data"]["field"] == "X-Memoryd-Tenant" and "acmee" in refused["message"], refused
    # MCP messages that call no tool (a client connecting) are answered, and make no store either
    for message in ({"jsonrpc": "2.0", "id": 2, "method": "ping"}, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}):
        r = http.post("/mcp", json=message, headers=typo)
        assert r.status_code == 200 and "result" in r.json(), r.text
    tenant_db = auth_settings.for_tenant("acmee").storage.path
    assert not tenant_db.exists() and not tenant_db.parent.exists()
    added = http.post("/mcp", json=_mcp_call(4, "add_memory", user_id="alice", messages="I like tea"), headers=typo)
    assert added.status_code == 200 and not added.json()["result"].get("isError"), added.text  # an add makes it
    assert http.post("/v1/memories", json=ADD, headers=typo).status_code == 200
    assert http.get("/v1/memories", params={"user_id": "alice"}, headers=typo).json()["total"] >= 2
    # A key made for a tenant names it by itself (no typo there): its tenant starts empty
    service = new_key(auth_settings, "service", tenant="fresh")
    assert http.get("/v1/memories", params={"user_id": "alice"}, headers=bearer(service)).json()["total"] == 0


def _mcp_call(rpc_id: int, tool: str, **arguments: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rpc_id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}


def test_open_server_ignores_foreign_tokens_but_checks_memoryd_keys(http: httpx.Client) -> None:
    # The OpenAI SDK always sends its api_key: with auth off that must not get in the way.
    r = http.get("/v1/users", headers={"Authorization": "Bearer sk-not-a-memoryd-key"})
    assert r.status_code == 200
    error_of(http.get("/v1/users", headers=bearer("mdk_0123456789ab_forged")), 401)


def test_deleting_the_key_file_under_a_running_server_takes_effect(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = make_settings(tmp_path / "data" / "memoryd.db")
    new_key(settings, "admin")
    keys_file = settings.keys_path()
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as http:
        assert http.get("/v1/memories", params={"user_id": "ana"}).status_code == 401
        for suffix in ("", "-wal", "-shm"):  # what the README says to delete
            Path(f"{keys_file}{suffix}").unlink(missing_ok=True)
        deadline = time.monotonic() + 10
        while http.get("/v1/memories", params={"user_id": "ana"}).status_code != 200:
            assert time.monotonic() < deadline, "the server kept reading the deleted key file"
            time.sleep(0.2)
        fresh = new_key(settings, "admin")  # keys made after the deletion work at once
        deadline = time.monotonic() + 10
        while http.get("/v1/memories", params={"user_id": "ana"}, headers=bearer(fresh)).status_code != 200:
            assert time.monotonic() < deadline, "a key made after the deletion is refused"
            time.sleep(0.2)
        deadline = time.monotonic() + 10  # and the server is closed again (key counts are cached briefly)
        while http.get("/v1/memories", params={"user_id": "ana"}).status_code != 401:
            assert time.monotonic() < deadline, "a new key did not close the server again"
            time.sleep(0.2)


def test_each_call_of_an_mcp_batch_counts_against_the_rate_limit(
    auth_settings: Settings, embedder: USEEmbedder
) -> None:
    settings = with_auth(auth_settings, required="always", rate_limit_per_s=0.5, rate_limit_burst=10)
    key = new_key(settings, "user", user_id="alice")

    def search(n: int) -> dict[str, object]:
        params = {"name": "search_memories", "arguments": {"query": "tea"}}
        return {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": params}

    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        small = c.post("/mcp", json=[search(n) for n in range(4)], headers=bearer(key))
        assert small.status_code == 200 and len(small.json()) == 4  # 4 of the 10 tokens
        big = c.post("/mcp", json=[search(n) for n in range(30)], headers=bearer(key))
        assert big.status_code == 413, big.text  # not 30 calls for the price of one; never fits
        assert big.json()["error"]["data"]["code"] == "payload_too_large"
        over = c.post("/mcp", json=[search(n) for n in range(11)], headers=bearer(key))  # burst + 1
        assert over.status_code == 413 and over.json()["error"]["message"].startswith("a batch of 11 calls")
        huge = c.post("/mcp", json=[search(n) for n in range(101)], headers=bearer(key))
        assert huge.status_code == 400 and "at most 100" in huge.json()["error"]["message"]
        left = [c.get("/v1/memories", params={"user_id": "alice"}, headers=bearer(key)).status_code for _ in range(8)]
    assert left.count(200) <= 6 and 429 in left  # the batch spent the key's tokens


def _outward_address() -> str | None:
    """This machine's address on its first non-loopback interface (no packet is sent), if any."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 9))  # any routed address: only the route is looked up
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_a_server_without_keys_serves_no_other_machine_however_it_was_started(
    auth_settings: Settings, embedder: USEEmbedder
) -> None:
    """Configured for loopback but listening on every address (`uvicorn --factory --host 0.0.0.0`
    runs the app so): a request from the network was an admin, and could mint an admin key."""
    from memoryd import AsyncMemory
    from memoryd.server import create_app
    from tests.api.conftest import running_app

    outward = _outward_address()
    if outward is None:
        pytest.skip("this machine has no non-loopback IPv4 address to send a request over")
    memory = AsyncMemory(auth_settings, embedder=embedder)
    with running_app(create_app(auth_settings, memory=memory), after=memory.close, bind="0.0.0.0") as url:
        port = url.rsplit(":", 1)[1]
        with httpx.Client(base_url=f"http://{outward}:{port}", timeout=30) as remote:
            refused = remote.post("/v1/admin/keys", json={"role": "admin"})
            added = remote.post("/v1/memories", json=ADD)
            health = remote.get("/health").json()  # the figures (paths, counts) are not theirs either
        with httpx.Client(base_url=url, timeout=30) as local:
            assert local.post("/v1/memories", json=ADD).status_code == 200  # this machine: still open
    assert error_of(refused, 401)["message"].startswith(f"an API key is required: this request came over {outward}")
    assert added.status_code == 401
    assert health["checks"] and all(set(c) == {"status"} for c in health["checks"].values())  # no figures


def test_a_server_without_keys_refuses_web_pages_of_other_sites(http: httpx.Client) -> None:
    """Open mode answered any page the browser showed: a cross-site form reset the store, and a
    site's name resolved to 127.0.0.1 (DNS rebinding) read everything and minted an admin key."""
    assert http.post("/v1/memories", json=ADD).status_code == 200
    page = {"origin": "https://evil.example", "content-type": "text/plain"}
    assert error_of(http.post("/v1/reset", headers=page), 403)["field"] == "Origin"
    assert error_of(http.post("/reset", headers={"origin": "null"}), 403)["field"] == "Origin"
    chat = http.post("/v1/chat/completions", content=b'{"messages": []}', headers=page)
    assert chat.status_code == 403 and chat.json()["error"]["type"] == "permission_error"
    rebound = {"host": "evil.example:8420"}
    assert error_of(http.get("/v1/memories", params={"user_id": "alice"}, headers=rebound), 403)["field"] == "Host"
    assert error_of(http.post("/v1/admin/keys", json={"role": "admin"}, headers=rebound), 403)["field"] == "Host"
    # this machine's own pages and programs still work
    mine = {"origin": "http://localhost:3000", "host": "localhost:8420"}
    listed = http.get("/v1/memories", params={"user_id": "alice"}, headers=mine).json()["results"]
    assert "I live in Lisbon" in [m["text"] for m in listed]  # not reset
    for host in ("[::1]:8420", "0.0.0.0:8420", "app.localhost:8420", "localhost.:8420"):  # 0.0.0.0: as uvicorn prints
        assert http.get("/v1/memories", params={"user_id": "alice"}, headers={"host": host}).status_code == 200, host


def test_a_server_without_keys_refuses_a_second_origin_or_host(http: httpx.Client) -> None:
    """Two Origin lines (a page's and one a proxy or extension adds) were read as the last one: a
    page of another site passed behind a loopback Origin. A request naming two is refused."""
    for first, second in (("https://evil.example", "http://localhost:3000"), ("http://localhost:3000", "null")):
        both = [("origin", first), ("origin", second), ("content-type", "application/json")]
        assert error_of(http.post("/v1/reset", headers=both), 403)["field"] == "Origin"
        checks = http.get("/health", headers=both).json()["checks"]  # open to all: no admin's figures
        assert checks and all(set(c) == {"status"} for c in checks.values())
    assert set(http.get("/health").json()["checks"]["storage"]) > {"status"}  # this machine's: figures
    # Two Host lines (which httpx will not send): refused, by the HTTP parser or as above
    with socket.create_connection((http.base_url.host, http.base_url.port), timeout=30) as raw:
        raw.sendall(b"GET /v1/memories?user_id=alice HTTP/1.1\r\nHost: evil.example:8420\r\n"
                    b"Host: localhost:8420\r\nConnection: close\r\n\r\n")
        answer = b"".join(iter(lambda: raw.recv(65536), b""))
    assert answer.split(b" ", 2)[1] in (b"400", b"403"), answer[:300]
    same = [("origin", "http://localhost:3000"), ("origin", "http://localhost:3000")]  # one, said twice
    assert http.get("/v1/memories", params={"user_id": "alice"}, headers=same).status_code == 200


def test_loopback_names_and_addresses() -> None:
    from memoryd.server.auth import is_loopback

    # 127.0.0.1 as a listener on "::" sees it; localhost's subdomains (RFC 6761) and its root dot
    for local in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "::ffff:127.0.0.1", "localhost", "localhost.", "a.localhost"):
        assert is_loopback(local), local
    for other in ("192.0.2.2", "::ffff:192.0.2.2", "0.0.0.0", "localhost.evil.example", "evil.example", ""):
        assert not is_loopback(other), other
