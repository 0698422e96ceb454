"""The app around the routes: OpenAPI and docs, health probes, life cycle, crashes, ``serve``."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from memoryd import AsyncMemory, Settings, __version__
from memoryd.embedders.use import USEEmbedder
from memoryd.server import create_app
from tests.api.conftest import Running, add, error_of, running_app

V1_ROUTES = {
    ("post", "/v1/memories"),
    ("get", "/v1/memories"),
    ("delete", "/v1/memories"),
    ("post", "/v1/memories/list"),
    ("post", "/v1/memories/search"),
    ("get", "/v1/memories/{memory_id}"),
    ("patch", "/v1/memories/{memory_id}"),
    ("delete", "/v1/memories/{memory_id}"),
    ("get", "/v1/memories/{memory_id}/history"),
    ("post", "/v1/reset"),
    ("post", "/v1/context"),
    ("get", "/v1/users"),
    ("delete", "/v1/users/{user_id}"),
}
MEM0_ROUTES = {
    ("post", "/memories"),
    ("get", "/memories"),
    ("delete", "/memories"),
    ("get", "/memories/{memory_id}"),
    ("put", "/memories/{memory_id}"),
    ("delete", "/memories/{memory_id}"),
    ("get", "/memories/{memory_id}/history"),
    ("post", "/search"),
    ("post", "/reset"),
}
HEALTH_ROUTES = {("get", "/health"), ("get", "/health/live"), ("get", "/health/ready")}
PIPELINE_ROUTES = {("get", "/v1/events/{event_id}"), ("get", "/metrics")}
ADMIN_ROUTES = {("post", "/v1/admin/keys"), ("get", "/v1/admin/keys"), ("delete", "/v1/admin/keys/{key_id}")}


def test_openapi_lists_every_route_with_the_error_shape(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "memoryd" and spec["info"]["version"] == __version__
    listed = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    # Every route is also checked against docs/http.md (tests/test_docs.py).
    assert listed >= V1_ROUTES | MEM0_ROUTES | HEALTH_ROUTES | PIPELINE_ROUTES | ADMIN_ROUTES
    add_op = spec["paths"]["/v1/memories"]["post"]
    schema = add_op["responses"]["422"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/ErrorBody")
    body = spec["components"]["schemas"]["AddRequest"]
    assert {"messages", "user_id", "agent_id", "run_id", "metadata", "timestamp", "mode"} <= set(
        body["properties"]
    )
    assert "infer" in spec["components"]["schemas"]["Mem0AddRequest"]["properties"]
    text = spec["components"]["schemas"]["Mem0UpdateRequest"]["properties"]["text"]
    assert "`data`" in text["description"]  # the alias mem0's clients send is documented
    for probe in ("/health", "/health/ready"):  # documented as they answer: 503 when a dependency is down
        assert {"200", "503"} <= set(spec["paths"][probe]["get"]["responses"])


def test_docs_serve_html_that_needs_nothing_from_outside(client: httpx.Client) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "swagger" in r.text.lower() and "/openapi.json" in r.text
    assert "https://" not in r.text and "http://" not in r.text  # no CDN: works on a machine offline
    linked = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", r.text)
    assert {u.rsplit("/", 1)[-1] for u in linked} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for url in linked:  # served here, from the files of a pip package
        part = client.get(url)
        assert part.status_code == 200 and len(part.content) > 1000, url
    script = client.get(next(u for u in linked if u.endswith(".js"))).text
    assert 'version:"5.' in script or '"5.' in script  # Swagger UI 5 renders the OpenAPI 3.1 document


def test_health_probes_when_up(client: httpx.Client) -> None:
    add(client, "one memory")
    assert client.get("/health/live").json() == {"status": "ok"}
    assert client.get("/health/ready").json() == {"status": "ready"}
    report = client.get("/health")
    assert report.status_code == 200
    body = report.json()
    assert body["status"] == "ok" and body["version"] == __version__
    assert body["checks"]["storage"]["status"] == "ok"
    assert set(body["checks"]["storage"]["backends"]) == {"records", "vectors", "keywords", "graph", "segments"}
    assert body["checks"]["embedder"] == {"status": "ok", "model": "use-multilingual-v3", "dim": 512}


def test_health_probes_when_storage_is_down(client: httpx.Client, server: Running) -> None:
    mid = add(client, "stored before the outage")[0]["id"]
    asyncio.run(server.memory.storage.close())  # the database goes away under the running server
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 503 and ready.json()["status"] == "unavailable" and ready.json()["reason"]
    report = client.get("/health")
    assert report.status_code == 503 and report.json()["checks"]["storage"]["status"] == "error"
    assert error_of(client.get(f"/v1/memories/{mid}"), 503)["code"] == "storage_error"


async def test_nothing_is_served_before_start_up(api_settings: Settings, embedder: USEEmbedder) -> None:
    memory = AsyncMemory(api_settings, embedder=embedder)
    app = create_app(api_settings, memory=memory)  # the lifespan never runs: not ready
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as c:
            assert (await c.get("/health/live")).status_code == 200
            assert (await c.get("/health/ready")).status_code == 503
            assert (await c.get("/health")).status_code == 503
            busy = await c.get("/v1/memories", params={"user_id": "alice"})
            assert error_of(busy, 503)["code"] == "backend_unavailable"
        assert not api_settings.storage.path.exists()  # nothing was opened
    finally:
        await memory.close()


def test_app_builds_and_closes_its_own_memory(api_settings: Settings, embedder: USEEmbedder) -> None:
    app = create_app(api_settings)
    assert app.title == "memoryd" and app.version == __version__
    with running_app(app) as url, httpx.Client(base_url=url) as c:
        assert c.get("/health/ready").json() == {"status": "ready"}
        assert c.get("/v1/memories", params={"user_id": "a"}).json()["total"] == 0
    assert api_settings.storage.path.exists()
    assert app.state.memoryd.memory is None and not app.state.memoryd.ready  # closed on shutdown


def test_unexpected_error_is_a_generic_500(
    client: httpx.Client, server: Running, caplog: pytest.LogCaptureFixture
) -> None:
    def boom() -> None:
        raise RuntimeError("password=hunter2 in /etc/secret.toml")

    server.app.add_api_route("/v1/boom", boom)
    with caplog.at_level(logging.ERROR, logger="memoryd.server"):
        error = error_of(client.get("/v1/boom"), 500)
    assert error["code"] == "internal_error" and "hunter2" not in str(error) and "secret" not in str(error)
    incident = error["details"]["incident"]
    logged = [r for r in caplog.records if incident in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the traceback is in the log, not the response
    assert client.get("/health/ready").status_code == 200  # the server carries on


SERVE = (
    "from memoryd import load_settings; from memoryd.server.run import serve; serve(load_settings(), port=0)"
)


@pytest.mark.slow
def test_serve_logs_database_and_embedder_and_drains_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "served.db"
    env = {**os.environ, "MEMORYD_STORAGE__PATH": str(db), "MEMORYD_SERVER__LOG_LEVEL": "info"}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    stderr = proc.stderr
    assert stderr is not None
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stderr:
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                seen.append(lines.get(timeout=0.5))
            except queue.Empty:
                continue
            found = re.search(r"running on (http://127\.0\.0\.1:\d+)", seen[-1])
            url = found.group(1) if found else None
        assert url, "".join(seen)
        assert httpx.get(f"{url}/health/ready", timeout=10).json() == {"status": "ready"}
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        reader.join(timeout=10)
        stderr.close()
    while not lines.empty():
        seen.append(lines.get())
    log = "".join(seen)
    # uvicorn re-raises the signal after a clean shutdown, so the exit status is "killed by SIGTERM"
    assert code in (0, -signal.SIGTERM), log
    assert f"database {db}" in log and "embedder use-multilingual-v3" in log
    assert "Application shutdown complete" in log


@pytest.mark.slow
def test_serve_raises_when_the_store_cannot_be_opened(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = {**os.environ, "MEMORYD_STORAGE__PATH": str(blocker / "memoryd.db")}
    done = subprocess.run([sys.executable, "-c", SERVE], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "Application startup failed" in done.stderr
    # serve() raised the store's own error, naming the setting to fix, rather than returning
    assert "StorageError: cannot create the directory for storage.path" in done.stderr
